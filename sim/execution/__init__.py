"""Layer 4, execution: runs and sweeps, in parallel, into Parquet.

``designs`` plans sweep points; ``runner`` cuts work into tasks and runs them
on a process pool or a Dask cluster; ``run`` drives a run start to finish
(plan, resume, execute, summarise); ``output`` is the only writer of run
directories. Imports the layers below (scenario, model, analysis).
"""
