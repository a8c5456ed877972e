-- The daily report, one row per day and team, exported to data/daily_report.parquet.
select day, team, opened, closed, open_high from daily_report order by day, team
