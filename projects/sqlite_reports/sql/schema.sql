-- The report database's tables (teams, tickets, daily_report), created when missing.
create table if not exists teams (team_id integer primary key, name text not null);
create table if not exists tickets (
    ticket_id integer primary key,
    team_id integer not null references teams (team_id),
    opened_at text not null,
    closed_at text,
    priority text not null check (priority in ('low', 'normal', 'high'))
);
create table if not exists daily_report (
    day text not null, team text not null, opened integer not null, closed integer not null,
    open_high integer not null, primary key (day, team)
);
