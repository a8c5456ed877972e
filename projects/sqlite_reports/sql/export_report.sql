select day, team, opened, closed, open_high from daily_report order by day, team
