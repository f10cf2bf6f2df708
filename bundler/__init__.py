"""The Lambda bundle build: deterministic ``code.zip`` + dependency ``layer.zip`` + ``manifest.json``.

``bundler.build.build_bundle`` builds, ``bundler.manifest.read_manifest`` reads what the Pulumi
program deploys; errors derive from ``bundler.errors.BundleError``.
"""
