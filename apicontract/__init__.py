"""The API contract's tooling, outside the Lambda bundle.

- :mod:`apicontract.document`: the OpenAPI document of a stack, from the app definition and the handlers'
  declarations (what ``fhr openapi`` writes and the web function serves);
- :mod:`apicontract.validate`: checks one HTTP response against the document (the contract suite runs it on
  every response it receives);
- :mod:`apicontract.reach`: the error codes each route's handler can raise, read from the source;
- :mod:`apicontract.fuzz`: schemathesis driving a running stack from the document.
"""
