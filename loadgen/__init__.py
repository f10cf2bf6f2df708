"""Load generation against a deployed or local stack: the engine behind ``fhr loadtest``.

It reads stack outputs (``pulumi stack output --json`` or the local cloud's outputs file), so the same
command measures AWS and the embedded local cloud.
"""
