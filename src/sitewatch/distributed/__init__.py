"""Distributed processing on Dask: the pipeline steps as tasks per file, scene and site.

``with dask_client(workers=2) as client: run_steps(client, db_url, ["ingest", "detect"], paths)``
runs on a LocalCluster; ``dask_client(scheduler="tcp://host:8786")`` on an existing one.
Results go to the store through idempotent writes, so the outcome matches a local run.
"""

from sitewatch.distributed.run import STEPS, StepReport, dask_client, parse_steps, report_dict, run_steps

__all__ = ["STEPS", "StepReport", "dask_client", "parse_steps", "report_dict", "run_steps"]
