-- shared by both engines
CREATE TABLE notes (
	slug TEXT PRIMARY KEY,
	body TEXT NOT NULL
);
CREATE INDEX notes_body ON notes (body);
