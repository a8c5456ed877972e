-- Tickets opened and closed per team and day, and how many high-priority tickets are still open.
delete from daily_report;
insert into daily_report (day, team, opened, closed, open_high)
select days.day, teams.name,
       (select count(*) from tickets t where t.team_id = teams.team_id and t.opened_at = days.day),
       (select count(*) from tickets t where t.team_id = teams.team_id and t.closed_at = days.day),
       (select count(*) from tickets t where t.team_id = teams.team_id and t.priority = 'high'
          and t.opened_at <= days.day and (t.closed_at is null or t.closed_at > days.day))
from (select distinct opened_at as day from tickets) as days
cross join teams;
