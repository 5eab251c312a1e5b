"""Rules engine and policy packs: turn stored records into per-metric status, headroom, forecast, deadlines."""
