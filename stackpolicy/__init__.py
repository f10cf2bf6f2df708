"""Policy as code over the stack's resource graph: IAM linting with parliament, and the stack rules.

The Pulumi CLI cannot run here or in the test suite, so the rules read the graph the program
registers under ``pulumi.runtime.set_mocks`` (:mod:`components.testing`), for every stack:

- :mod:`stackpolicy.documents` finds every IAM and resource policy in a graph (role, bucket, queue
  and any other policy document an input carries, plus each Lambda permission rendered as the
  statement Lambda adds to the function's resource policy);
- :mod:`stackpolicy.iamlint` runs parliament on each of them (0 findings is the bar; a suppression
  names the exact finding and why it is wrong for that kind of policy);
- :mod:`stackpolicy.rules` holds the stack rules (encryption at rest and in transit, no public
  bucket, log retention, alarms, trigger limits, invoke permissions, production data protection),
  each written over resource types rather than today's resource list, returning violations.
"""
