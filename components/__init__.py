"""Pulumi ComponentResources of the FHR service, each typed ``fhr:<module>:<Name>``.

``service.FhrService`` composes ``storage.EcgStorage``, ``tables.Tables``, ``function.LambdaFunction``,
``api.HttpApi`` and ``keepwarm.KeepWarm`` from the app definition (``fhrapp.definition``) and one
validated stack config (``fhrapp.config``). IAM documents are pure functions in ``policies``;
``testing`` holds the mock harness the tests use to assert the resource graph.
"""
