"""The criteria lab: what a draft definition would change before it is saved,
which behaviours go with conversion, and how a definition would have done on
accounts whose outcome is known. Reads only: no scores or statuses are written.

Long computations run as RQ jobs (`runs.request_run`); each stores its result
in a `LabRun` row with its progress.
"""
