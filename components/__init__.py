"""Pulumi ComponentResources of the FHR service, each typed ``fhr:<module>:<Name>``.

``service.FhrService`` composes ``storage.EcgStorage``, ``tables.Tables``, ``queues.Queues``,
``function.LambdaFunction`` (with its SQS event source mapping), ``api.HttpApi``, ``keepwarm.KeepWarm``
and ``observability.Observability`` (dashboard, alarms) from the app definition (``fhrapp.definition``)
and one validated stack config (``fhrapp.config``). IAM documents are pure functions in ``policies``;
``testing`` holds the mock harness the tests use to assert the resource graph.
"""
