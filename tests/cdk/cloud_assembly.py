"""Helpers that treat a synthesized cloud assembly as `cdk deploy` would: publish assets, trim for moto."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

# Resource types moto's CloudFormation cannot create, each with the reason it is removed for the
# moto round trip (the assertions in test_stack.py still check every one of them).
MOTO_UNSUPPORTED = {
    "AWS::ApplicationAutoScaling::ScalableTarget": "no moto CloudFormation model",
    "AWS::ApplicationAutoScaling::ScalingPolicy": "no moto CloudFormation model",
    "AWS::CloudWatch::Alarm": "no moto CloudFormation model",
    "AWS::EC2::SecurityGroupEgress": "no moto CloudFormation model",
    "AWS::ECS::ClusterCapacityProviderAssociations": "no moto CloudFormation model",
    "AWS::S3::BucketPolicy": "no moto CloudFormation model",
    "AWS::SNS::Subscription": "no moto CloudFormation model",
    "AWS::SNS::TopicPolicy": "no moto CloudFormation model",
    "AWS::SQS::QueuePolicy": "no moto CloudFormation model",
    "AWS::SecretsManager::Secret": "no moto CloudFormation model",
    "AWS::SecretsManager::SecretTargetAttachment": "no moto CloudFormation model",
    "Custom::VpcRestrictDefaultSG": "moto runs Lambda-backed custom resources only with Docker",
}


# What a reference to a removed resource becomes: ARN-shaped, since IAM policies validate ARNs.
PLACEHOLDER_ARN = "arn:aws:cloudformation:us-east-1:123456789012:removed"


def _replace_refs(node: Any, removed: set[str]) -> Any:
    """Turn Ref/GetAtt of removed resources into placeholder strings; drop them from DependsOn."""
    if isinstance(node, list):
        return [_replace_refs(item, removed) for item in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"} and node["Ref"] in removed:
        return f"{PLACEHOLDER_ARN}/{node['Ref']}"
    if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] in removed:
        return f"{PLACEHOLDER_ARN}/{node['Fn::GetAtt'][0]}/{node['Fn::GetAtt'][1]}"
    out = {key: _replace_refs(value, removed) for key, value in node.items()}
    if "DependsOn" in out:
        depends = out["DependsOn"] if isinstance(out["DependsOn"], list) else [out["DependsOn"]]
        out["DependsOn"] = [name for name in depends if name not in removed]
        if not out["DependsOn"]:
            del out["DependsOn"]
    return out


def for_moto(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The template without the types moto lacks, and {logical id: type} of what was removed."""
    removed = {
        name: res["Type"] for name, res in template["Resources"].items() if res["Type"] in MOTO_UNSUPPORTED
    }
    kept = {name: res for name, res in template["Resources"].items() if name not in removed}
    trimmed = _replace_refs({**template, "Resources": kept}, set(removed))
    trimmed["Outputs"] = template.get("Outputs", {})
    return trimmed, removed


def _package(source: Path, packaging: str) -> bytes:
    """A file asset's bytes: the file itself, or a zip of the directory."""
    if packaging == "file":
        return source.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(source.rglob("*")):
            archive.write(path, path.relative_to(source))
    return buffer.getvalue()


def publish_file_assets(
    assembly_dir: Path, stack_artifact: str, s3: Any, *, account: str, region: str
) -> int:
    """Upload the stack's file assets to the bootstrap bucket, as `cdk deploy` does; returns the count."""
    manifest = json.loads((assembly_dir / f"{stack_artifact}.assets.json").read_text())
    count = 0
    for asset in manifest.get("files", {}).values():
        body = _package(assembly_dir / asset["source"]["path"], asset["source"].get("packaging", "file"))
        for destination in asset["destinations"].values():
            bucket = (
                destination["bucketName"]
                .replace("${AWS::AccountId}", account)
                .replace("${AWS::Region}", region)
            )
            existing = {b["Name"] for b in s3.list_buckets()["Buckets"]}
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            count += 1
    return count
