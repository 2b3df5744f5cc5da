-- pgbench's own claim-and-complete transaction on vidgen's jobs table:
-- the claim vidgen's workers make (store_pg.c, "claim"), then the job's
-- end, with nothing between them. The practical limit of the database.
BEGIN;
UPDATE jobs SET lease_owner = 'pgbench', lease_until = clock_timestamp() + interval '20 seconds',
    attempts = attempts + 1
  WHERE seq = (SELECT seq FROM jobs WHERE NOT finished
               AND (lease_until IS NULL OR lease_until < clock_timestamp())
               ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
  RETURNING seq AS claimed \gset
UPDATE jobs SET status = 'completed', progress = 100, finished = true WHERE seq = :claimed;
END;
