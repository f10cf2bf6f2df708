"""``fhr:storage:EcgStorage``: the bucket clients upload ECG recordings to.

Public access is blocked, objects are encrypted at rest (SSE-S3) and in transit (a bucket policy
denies every non-TLS request); versioning and the lifecycle transition follow the stack config, and
``force_destroy`` (deleting a non-empty bucket) is only ever on where the config allows it (dev).
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.policies import tls_only_bucket_policy
from fhrapp.config import BucketConfig
from fhrapp.definition import DataResource

TRANSITION_STORAGE_CLASS = "STANDARD_IA"  # S3 accepts it only from 30 days on; the config enforces that
ABORT_INCOMPLETE_UPLOADS_DAYS = 7


def bucket_prefix(physical: str) -> str:
    """S3 names allow no underscores nor capitals: ``fhr-dev-ecg_bucket`` -> ``fhr-dev-ecg-bucket-``."""
    return physical.replace("_", "-").lower() + "-"


class EcgStorage(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        resource: DataResource,
        config: BucketConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("fhr:storage:EcgStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name, bucket_prefix=bucket_prefix(name), force_destroy=config.force_destroy, opts=child
        )
        block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=child,
        )
        # After the public access block: both edit the bucket's policy state, and S3 rejects concurrent edits.
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(lambda arn: json.dumps(tls_only_bucket_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[block]),
        )
        if config.versioning:
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=self.bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=child,
            )
        if config.transition_days is not None:
            self._lifecycle(name, config.transition_days, child)
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})

    def _lifecycle(self, name: str, days: int, opts: pulumi.ResourceOptions) -> None:
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="recordings-to-infrequent-access",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=days, storage_class=TRANSITION_STORAGE_CLASS
                        )
                    ],
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=ABORT_INCOMPLETE_UPLOADS_DAYS
                    ),
                )
            ],
            opts=opts,
        )
