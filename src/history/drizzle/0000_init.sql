CREATE TABLE `messages` (
	`room` text NOT NULL,
	`offset` integer NOT NULL,
	`epoch` text NOT NULL,
	`sender` text,
	`data` text NOT NULL,
	`ts` integer NOT NULL,
	PRIMARY KEY(`room`, `offset`)
);
--> statement-breakpoint
CREATE TABLE `rooms` (
	`room` text PRIMARY KEY NOT NULL,
	`epoch` text NOT NULL,
	`last_offset` integer DEFAULT 0 NOT NULL
);
