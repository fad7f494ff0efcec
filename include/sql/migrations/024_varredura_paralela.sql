-- 024: the scan of audit.avaliar_regras parallel on small loads too. Its leader only
-- gathers (021), so a plan with one worker has one process reading, and PostgreSQL rightly
-- keeps such a scan serial. With the default min_parallel_table_scan_size (8 MB) a sales
-- table below 24 MB gets one worker: a 100,000-sale load (10 MB) was read by one process,
-- 0.8 s where two workers take 0.4 s. At 512 kB both workers are planned from 4.5 MB on;
-- tables of a million sales and more get them either way. Whether to go parallel is still
-- the planner's choice by cost.
ALTER FUNCTION audit.avaliar_regras(date, date) SET min_parallel_table_scan_size = '512kB';
