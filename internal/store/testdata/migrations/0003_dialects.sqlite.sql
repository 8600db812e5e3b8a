-- A dialect's own file wins over a shared one of the same version.
CREATE TABLE only_here (engine TEXT NOT NULL DEFAULT 'sqlite');
