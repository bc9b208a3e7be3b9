"""The container entrypoint (``windsock container ROLE``) and helpers for running on ECS Fargate."""
