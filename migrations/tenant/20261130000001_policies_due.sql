-- The expiry sweep finds active policies past their expiry date through this index, so it reads
-- (and on MariaDB locks) only the due rows, not every active policy.
CREATE INDEX policies_status_expiry ON policies (status, expiry_date);
