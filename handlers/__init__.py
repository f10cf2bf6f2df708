"""The Lambda bundle: everything under here ships to AWS and never imports pulumi.

- ``handlers.runtime``: our async Lambda runtime (a Runtime API client on aiohttp).
- ``handlers.fhr``: the science (readers, FFTW spectral estimator, summary), usable without AWS code.
- ``handlers.storage``: streaming ECG objects from S3 with aioboto3.
- ``handlers.api``: the Lambda entry points named by the app definition.
"""
