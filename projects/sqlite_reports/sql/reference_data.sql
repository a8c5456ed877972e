-- Teams and a sample of tickets, inserted once (re-runs leave existing rows alone).
insert or ignore into teams (team_id, name) values (1, 'billing'), (2, 'platform'), (3, 'onboarding');
insert or ignore into tickets (ticket_id, team_id, opened_at, closed_at, priority) values
    (101, 1, '2026-11-29', '2026-11-30', 'normal'),
    (102, 1, '2026-11-30', null, 'high'),
    (103, 2, '2026-11-30', '2026-11-30', 'low'),
    (104, 2, '2026-11-30', null, 'high'),
    (105, 3, '2026-11-29', null, 'normal'),
    (106, 3, '2026-11-30', '2026-12-01', 'high');
