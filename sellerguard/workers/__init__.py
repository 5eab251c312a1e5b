"""``sellerguard worker``: many accounts on many processes, on procrastinate (a PostgreSQL job queue).

    plan (at start, then every minute)   each enabled account without a queued or running job gets one
    sync_account(account)                sync -> evaluate that account -> queue and deliver its alerts;
                                         on success it queues its own next run at sync_every +/- jitter
    deliver (every 30 s)                 the outbox: retries, backoff, the daily digest, pruning
    stalled-job retrier (in each worker) a job whose worker stopped sending heartbeats goes back to the queue

One job per account at a time: every account job carries procrastinate's ``lock`` (never two running) and
``queueing_lock`` (never two waiting) ``account:<id>``; the sync itself still takes the store's advisory lock, so
``sellerguard sync`` or ``run`` beside the workers never syncs the same account at once either. Modules:
``jobs`` (what one job does, engine-free), ``app`` (the procrastinate App and its tasks), ``run`` (the worker
process), ``schema`` (procrastinate's tables, created by migration 0006).
"""
