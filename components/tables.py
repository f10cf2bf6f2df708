"""``fhr:tables:Tables``: every DynamoDB table of the app definition, key schema and TTL from it.

On-demand billing (the load is bursty); encrypted at rest with the account's AWS-managed KMS key
(``aws/dynamodb``: unlike the default AWS-owned key, its every use is recorded in CloudTrail, which a
hospital's audit asks for); point-in-time recovery and deletion protection follow the stack config
(on in prod, off in dev so a dev stack tears down cleanly). With ``protect`` (the stack's
``protectData``), Pulumi refuses to delete or replace a table and leaves it in AWS if it ever leaves
the program, so no ``pulumi up`` or ``destroy`` can drop patients' results.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from fhrapp.config import TablesConfig
from fhrapp.definition import DataResource


class Tables(pulumi.ComponentResource):
    tables: dict[str, aws.dynamodb.Table]

    def __init__(
        self,
        name: str,
        resources: dict[str, DataResource],
        config: TablesConfig,
        opts: pulumi.ResourceOptions | None = None,
        protect: bool = False,
    ) -> None:
        """``resources`` maps each table's deployed name to its definition."""
        super().__init__("fhr:tables:Tables", name, None, opts)
        self._opts = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        self.tables = {
            resource.logical: self._table(physical, resource, config) for physical, resource in resources.items()
        }
        self.register_outputs({logical: table.name for logical, table in self.tables.items()})

    def _table(self, physical: str, resource: DataResource, config: TablesConfig) -> aws.dynamodb.Table:
        if resource.kind != "table" or not resource.hash_key:
            raise ValueError(f"{resource.logical} is not a table with a hash key in the app definition")
        keys = [k for k in (resource.hash_key, resource.range_key) if k]
        ttl = (
            aws.dynamodb.TableTtlArgs(attribute_name=resource.ttl_attribute, enabled=True)
            if resource.ttl_attribute
            else None
        )
        return aws.dynamodb.Table(
            physical,
            name=physical,
            billing_mode="PAY_PER_REQUEST",
            hash_key=resource.hash_key,
            range_key=resource.range_key,
            attributes=[aws.dynamodb.TableAttributeArgs(name=key, type="S") for key in keys],
            ttl=ttl,
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=config.point_in_time_recovery),
            deletion_protection_enabled=config.deletion_protection,
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            opts=self._opts,
        )
