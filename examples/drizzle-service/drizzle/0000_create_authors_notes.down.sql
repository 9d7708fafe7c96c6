-- The down script of 0000, kept beside the file so that drizzle's hash of 0000 stays as drizzle-kit wrote it.
DROP TABLE `notes`;
DROP TABLE `authors`;
