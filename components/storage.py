"""``fhr:storage:EcgStorage``: the bucket clients upload ECG recordings to.

Public access is blocked, objects are encrypted at rest (SSE-S3) and in transit (a bucket policy
denies every non-TLS request); versioning and the lifecycle transition follow the stack config, and
``force_destroy`` (deleting a non-empty bucket) is only ever on where the config allows it (dev).
With ``protect`` (the stack's ``protectData``), Pulumi refuses to delete or replace the bucket and
leaves it in AWS if it ever leaves the program.

Browsers upload straight to the bucket with a presigned POST and read objects with presigned GETs,
from the page the API serves (its own origin) and from the stack's CORS origins; the service adds
that CORS rule with :meth:`EcgStorage.allow_browser_access` once the API (hence its origin) exists.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.policies import tls_only_bucket_policy
from fhrapp.config import BucketConfig
from fhrapp.definition import DataResource, bucket_lifecycle_rules, bucket_name

BROWSER_METHODS = ("GET", "HEAD", "POST")  # presigned POST uploads, presigned GET downloads
BROWSER_EXPOSED_HEADERS = ("ETag", "Location")  # a POST upload answers with both
CORS_MAX_AGE_S = 3000


def browser_origins(configured: tuple[str, ...], api_origin: str) -> list[str]:
    """The stack's CORS origins plus the API's own origin (the page); ``*`` already admits every origin."""
    if "*" in configured:
        return ["*"]
    return sorted({*configured, api_origin.rstrip("/")})


class EcgStorage(pulumi.ComponentResource):
    bucket: aws.s3.Bucket

    def __init__(
        self,
        name: str,
        resource: DataResource,
        config: BucketConfig,
        opts: pulumi.ResourceOptions | None = None,
        protect: bool = False,
    ) -> None:
        super().__init__("fhr:storage:EcgStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name,
            bucket_prefix=bucket_name(name) + "-",
            force_destroy=config.force_destroy,
            opts=pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect),
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
        self._lifecycle(name, config.transition_days, child)
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.bucket.arn})

    def allow_browser_access(self, name: str, configured: tuple[str, ...], api_origin: pulumi.Input[str]) -> None:
        """CORS for presigned uploads and downloads from the page's origin and the configured ones.

        The presigned policy, not CORS, limits what may be uploaded (key prefix, size, content type);
        CORS only decides which pages may read the responses, so request headers are not narrowed.
        """
        aws.s3.BucketCorsConfiguration(
            f"{name}-cors",
            bucket=self.bucket.id,
            cors_rules=[
                aws.s3.BucketCorsConfigurationCorsRuleArgs(
                    id="browser-uploads",
                    allowed_methods=list(BROWSER_METHODS),
                    allowed_origins=pulumi.Output.from_input(api_origin).apply(
                        lambda origin: browser_origins(configured, origin)
                    ),
                    allowed_headers=["*"],
                    expose_headers=list(BROWSER_EXPOSED_HEADERS),
                    max_age_seconds=CORS_MAX_AGE_S,
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _lifecycle(self, name: str, transition_days: int | None, opts: pulumi.ResourceOptions) -> None:
        """The rules of :func:`fhrapp.definition.bucket_lifecycle_rules` (the local cloud applies the same):
        result objects expire with the result TTL; recordings move to infrequent access if configured."""
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=[_rule_args(rule) for rule in bucket_lifecycle_rules(transition_days)],
            opts=opts,
        )


def _rule_args(rule: dict) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """One rule of S3's API shape as Pulumi's arguments."""
    given = rule["Filter"]
    tag = given.get("Tag")
    rule_filter = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(
        prefix=given.get("Prefix"),
        tag=aws.s3.BucketLifecycleConfigurationRuleFilterTagArgs(key=tag["Key"], value=tag["Value"]) if tag else None,
    )
    transitions = [
        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=t["Days"], storage_class=t["StorageClass"])
        for t in rule.get("Transitions", [])
    ]
    expiration = rule.get("Expiration")
    expires = aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expiration["Days"]) if expiration else None
    abort = rule.get("AbortIncompleteMultipartUpload")
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule["ID"],
        status=rule["Status"],
        filter=rule_filter,
        transitions=transitions or None,
        expiration=expires,
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=abort["DaysAfterInitiation"]
        )
        if abort
        else None,
    )
