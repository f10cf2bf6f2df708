"""Power tuning: run a function at several memory sizes and pick the best by cost, speed or both.

The inputs are those AWS Lambda Power Tuning users know. One code path serves AWS and the local
cloud: boto3's Lambda client, pointed at AWS or at the local Lambda service's endpoint.
"""
