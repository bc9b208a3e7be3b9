"""S3 -> local DAG folder, plugins, requirements and startup script; event-driven.

Entry points for the container start are in ``dag_sync.entry``; the CLI is ``dag_sync.cli``.
"""
