CREATE TABLE only_here (engine TEXT NOT NULL DEFAULT 'postgres');
