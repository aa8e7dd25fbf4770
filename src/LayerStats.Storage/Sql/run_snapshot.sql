-- At the end of every run (parameter $1: the run id), by the one writer (DuckDbScanStore.RunSnapshot), in sections that
-- it runs in this order:
--   stale    whether to start over (a covered layer content is gone or was replaced): then it drops the derived
--            tables and creates them again empty (schema.sql);
--   plan     list the stored layer contents images reference that the derived tables (schema.sql) do not cover yet,
--            with where their rows are in `files` (row ids);
-- then rounds, each in a transaction of its own, until the list is done:
--   round    a scratch table for the round;
--   batch    up to DuckDbScanStore.DerivedRoundBatches times, each time on the next contents of the list, up to
--            getvariable('derived_batch_rows') rows of `files` in all (at least one content): adds them to
--            layer_file_stats, layer_path_stats and derived_contents, and their per-content figures to derived_partials;
--   pend     (a round that more rounds follow, or the last of several) the round's per-content figures appended to
--            derived_pending in order of the content's hash;
--   merge    (the last round) the figures of derived_partials and derived_pending summed per content; then part, once
--            per part of their paths (a range of the content's hash): content_stats written anew with them added, whole
--            (into a new content_stats_base; then merged) or, while the delta stays small beside the base, only the
--            delta's rows and the batches' contents (into a new content_stats_delta; then merged_delta);
-- so that after every round layer_file_stats, layer_path_stats and content_stats with derived_pending added hold exactly
-- the figures of the layer contents derived_contents lists, and after the last round content_stats alone does (the
-- views read the derived tables only then: derived_contents lists every referenced content only after the last round,
-- which commits with the merge). content_stats is written once per end-of-run step, not once per round: a first fill
-- of 50 M file rows in 7 rounds wrote it 7 times, growing (quadratic); then
--   images   the layer sequences of the images not covered yet (small TEMP tables, committed one statement at a time);
-- and in another transaction:
--   image_rows  the files whose content can take part in image_file_stats, in order of a hash of the content (then
--            image_part once per range of that hash, and images_done: image_file_stats for those images);
--   totals   the totals of the run over the images it saw, into its scan_runs row.
-- Memory: no statement keeps a state per content that holds strings (DuckDB cannot spill those): the first and example
-- paths of each content come from a sort (which spills); intermediate rows go to tables of the database (not TEMP, which
-- stay in memory) dropped in the same transaction; no statement deletes or updates rows spread over a large table
-- (DuckDB keeps a version of every vector it touches in memory until the transaction ends), and what a transaction
-- holds is bounded by its round. So the layer-content steps run at the scan's own memory limit, spilling to DuckDB's
-- temporary directory; so do the image step and totals (50 M rows, 10,000 images: within the scan's 80 MB, peak RSS
-- ~190 MiB alone, 245 MiB for the whole step from scratch; benchmarks/README.md "Store at scale"): no DISTINCT or join
-- build side over all their rows at once, parts by hash range, and joins written so that the planner cannot pick a
-- k²-row order. A step that runs out is done again at a report's limit.
-- A section that takes $1 names it in every statement (the statements of a command share its parameters).
-- Not done ahead: batching each content during the read phase, once an image referencing it is committed (tried in
-- wip/overlap, commit cb6fd6d: a table derived_early of contents batched ahead, merged by the step), moved 0.12 s of the
-- step out of the tail at synthetic scale 4 but lengthened the read phase by 0.09 s (that phase already keeps both cores
-- busy: the scan's CPU is ~1.95 cores there) and added ~15-25 MB to the peak RSS; wall time unchanged (3.92 vs 3.91 s,
-- medians of 5). It paid only with CPU idle during the read (--jobs 1: 6.60 -> 6.42 s).
-- Measured and left out for a scan-sized step (synthetic scale 4: 128 k file rows, 101 k contents; wip/batchsql): two
-- DuckDB threads for the step of a small store (the other core is idle by then): each statement ~20 % faster alone, but
-- the step inside a scan took longer (finish 0.71 vs 0.48 s, medians of 5); ls_extension without a regex (the name's
-- last suffix, the regex only for names ending in digits or holding a newline): the same results on hostile names,
-- but slower (47 vs 34 ms per 108 k paths: DuckDB evaluates the macro's repeated subexpressions again); in section part,
-- a one-batch round's figures taken as they are instead of summed and joined: no change. Of the step's ~0.45 s at scale
-- 4, ~0.1 s is the round's commit, most of it the automatic checkpoint it triggers (the WAL passes 16 MB; without it the
-- commit takes 35 ms and the scan's final checkpoint 0.1 s instead of 4 ms); ls_directory and ls_extension of every
-- row and first path are ~0.05 s in each of layer_path_stats and part.

-- @section stale
-- Whether a covered layer content is gone or was replaced: then the derived tables (and derived_pending) are dropped
-- and created again empty (schema.sql), not emptied with DELETE (see section merge), and filled from nothing.
SELECT EXISTS (SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);

-- @section plan
-- The rows of `files` with row ids lo..hi: how the batches below read their layer contents. Behind OFFSET 0 so that
-- DuckDB (1.5) pushes no other filter into the scan: with a second filter there (kind = 'file', or the min/max of a
-- join's keys) it reads the whole table, not only the row groups that hold those row ids (50 M rows: 0.5 s per
-- statement instead of a few ms).
CREATE OR REPLACE TEMP MACRO files_in_rows(lo, hi) AS TABLE
SELECT * FROM files WHERE rowid BETWEEN lo AND hi OFFSET 0;

-- lid: a small key per content for the batch's intermediate rows; lo..hi: the row ids of its rows in `files` (a layer
-- content's rows are appended together, so each batch reads a narrow range of row ids; the range is checked below).
-- The rows are found by content_id where the content has one (the row groups that hold it; a nightly scan's new
-- contents are the last ones), by diff_id (the whole table) for contents stored before content_id existed.
CREATE OR REPLACE TEMP TABLE derived_todo AS
WITH new AS (SELECT c.diff_id, c.content_id FROM layer_contents c
             WHERE c.diff_id IN (SELECT diff_id FROM referenced_contents EXCEPT SELECT diff_id FROM derived_contents)),
     new_rows AS (SELECT f.diff_id, f.rowid AS r FROM files f
                  WHERE f.content_id IN (SELECT content_id FROM new WHERE content_id IS NOT NULL)
                  UNION ALL
                  SELECT f.diff_id, f.rowid AS r FROM files f
                  WHERE f.diff_id IN (SELECT diff_id FROM new WHERE content_id IS NULL))
SELECT r.diff_id, r.run_id, CAST(row_number() OVER (ORDER BY r.diff_id) AS INTEGER) AS lid,
       s.lo, s.hi, coalesce(s.n, 0) AS entries
FROM referenced_contents r
LEFT JOIN (SELECT diff_id, min(r) AS lo, max(r) AS hi, count(*) AS n FROM new_rows GROUP BY diff_id) s ON s.diff_id = r.diff_id
WHERE r.diff_id NOT IN (SELECT diff_id FROM derived_contents);

-- @section round
-- Per batch, per content: its figures over the batch (section batch). A table of the database, not TEMP (TEMP tables
-- stay in memory), dropped in the same transaction (sections pend, merged).
CREATE TABLE derived_partials (xxh128 UHUGEINT, size BIGINT, occurrences BIGINT, layers BIGINT, paths VARCHAR[]);

-- The figures of the rounds committed before this one that content_stats does not hold yet (section pend): the
-- columns of derived_partials. A table of the database that outlives its round's transaction (a step killed after a
-- round resumes with it); created by the first round of a step with several, dropped by the merge (sections merged,
-- merged_delta), so that it exists only while a step is unfinished.
CREATE TABLE IF NOT EXISTS derived_pending AS FROM derived_partials LIMIT 0;

-- @section batch
CREATE OR REPLACE TEMP TABLE derived_batch AS
SELECT diff_id, run_id, lid, lo, hi, entries
FROM (SELECT *, sum(entries) OVER (ORDER BY lo NULLS FIRST, lid ROWS UNBOUNDED PRECEDING) AS upto FROM derived_todo)
WHERE upto - entries < getvariable('derived_batch_rows');

-- The row ids the batch's rows are in (constants, so that the scans of `files` below skip the rest of the table); if
-- they are not all there (row ids changed since the plan), the whole table.
SET VARIABLE derived_lo = (SELECT coalesce(min(lo), 0) FROM derived_batch);
SET VARIABLE derived_hi = (SELECT coalesce(max(hi), -1) FROM derived_batch);
SET VARIABLE derived_hi = CASE
    WHEN (SELECT count(*) FROM files_in_rows(getvariable('derived_lo'), getvariable('derived_hi')) f
          WHERE f.diff_id IN (SELECT diff_id FROM derived_batch)) = (SELECT sum(entries) FROM derived_batch)
    THEN getvariable('derived_hi') ELSE 9223372036854775807 END;
SET VARIABLE derived_lo = CASE WHEN getvariable('derived_hi') = 9223372036854775807 THEN 0 ELSE getvariable('derived_lo') END;

-- Per content of the batch: occurrences, layers and its first 5 distinct paths (path order), into derived_partials;
-- merged into content_stats once all batches are done (section merge). A content with one file row in the batch (most
-- of a scan's: 95 k of 101 k contents at synthetic scale 4) has that row's path, found by a join with the counts (per
-- content, no strings); the others' from one sort of their distinct (content, path) pairs, not a partition per content
-- (which DuckDB keeps in memory): each pair sees the 5 before it; the row that ends a content's first 5 (its 5th path,
-- or its last if it has fewer) holds them all. (Sorting every content's pairs took 0.11-0.19 s of the step at scale 4,
-- this 0.06 s. The lags compare xxh128 and size, not a struct of them: cheaper, the same.)
INSERT INTO derived_partials
WITH bf AS NOT MATERIALIZED (
         SELECT b.lid, f.xxh128, f.size, f.path
         FROM files_in_rows(getvariable('derived_lo'), getvariable('derived_hi')) f JOIN derived_batch b ON b.diff_id = f.diff_id
         WHERE f.kind = 'file'),
     counts AS (SELECT xxh128, size, sum(n) AS occurrences, count(*) AS layers
                FROM (SELECT lid, xxh128, size, count(*) AS n FROM bf GROUP BY ALL)
                GROUP BY ALL),
     pairs AS (SELECT DISTINCT b.xxh128, b.size, b.path FROM bf b
               SEMI JOIN (SELECT xxh128, size FROM counts WHERE occurrences >= 2) c
                 ON c.xxh128 IS NOT DISTINCT FROM b.xxh128 AND c.size = b.size),
     w AS (SELECT xxh128, size, path,
                  lag(path, 1) OVER o AS q1, lag(path, 2) OVER o AS q2, lag(path, 3) OVER o AS q3, lag(path, 4) OVER o AS q4,
                  1 + CAST(lag(xxh128, 1) OVER o IS NOT DISTINCT FROM xxh128 AND lag(size, 1) OVER o IS NOT DISTINCT FROM size AS INTEGER)
                    + CAST(lag(xxh128, 2) OVER o IS NOT DISTINCT FROM xxh128 AND lag(size, 2) OVER o IS NOT DISTINCT FROM size AS INTEGER)
                    + CAST(lag(xxh128, 3) OVER o IS NOT DISTINCT FROM xxh128 AND lag(size, 3) OVER o IS NOT DISTINCT FROM size AS INTEGER)
                    + CAST(lag(xxh128, 4) OVER o IS NOT DISTINCT FROM xxh128 AND lag(size, 4) OVER o IS NOT DISTINCT FROM size AS INTEGER) AS k,
                  lag(xxh128, 5) OVER o IS NOT DISTINCT FROM xxh128 AND lag(size, 5) OVER o IS NOT DISTINCT FROM size AS after_5th,
                  lead(xxh128, 1) OVER o IS DISTINCT FROM xxh128 OR lead(size, 1) OVER o IS DISTINCT FROM size AS last
           FROM pairs
           WINDOW o AS (ORDER BY xxh128, size, path)),
     firsts AS (SELECT xxh128, size,
                       CASE k WHEN 1 THEN [path] WHEN 2 THEN [q1, path] WHEN 3 THEN [q2, q1, path]
                              WHEN 4 THEN [q3, q2, q1, path] ELSE [q4, q3, q2, q1, path] END AS paths
                FROM w
                WHERE (k = 5 AND NOT after_5th) OR (k < 5 AND last))
SELECT c.xxh128, c.size, c.occurrences, c.layers, [b.path]
FROM bf b JOIN counts c ON c.xxh128 IS NOT DISTINCT FROM b.xxh128 AND c.size = b.size
WHERE c.occurrences = 1
UNION ALL
SELECT c.xxh128, c.size, c.occurrences, c.layers, p.paths
FROM counts c JOIN firsts p ON p.xxh128 IS NOT DISTINCT FROM c.xxh128 AND p.size = c.size
WHERE c.occurrences >= 2;

INSERT INTO layer_file_stats
SELECT b.diff_id, sum(n), sum(size * n), sum(size * (n - 1))
FROM (SELECT f.diff_id, f.xxh128, f.size, count(*) AS n
      FROM files_in_rows(getvariable('derived_lo'), getvariable('derived_hi')) f
      WHERE f.kind = 'file'
        AND f.diff_id IN (SELECT diff_id FROM derived_batch)
      GROUP BY ALL) c
JOIN derived_batch b ON b.diff_id = c.diff_id
GROUP BY b.diff_id;

INSERT INTO layer_path_stats
SELECT f.diff_id, ls_directory(f.path), ls_extension(f.path), count(*), sum(f.size)
FROM files_in_rows(getvariable('derived_lo'), getvariable('derived_hi')) f
WHERE f.kind = 'file'
  AND f.diff_id IN (SELECT diff_id FROM derived_batch)
GROUP BY ALL;

INSERT INTO derived_contents SELECT diff_id, run_id FROM derived_batch;

DELETE FROM derived_todo WHERE lid IN (SELECT lid FROM derived_batch);

DROP TABLE derived_batch;

-- @section pend
-- The round's figures kept for the merge of the last round, in order of the content's hash (xxh128, nearly uniform), so
-- that the merge's parts (ranges of it) read a few row groups of each round's rows, found by their zone maps, instead
-- of all of them once per part.
INSERT INTO derived_pending SELECT * FROM derived_partials ORDER BY xxh128;

DROP TABLE derived_partials;

CREATE TABLE derived_partials AS FROM derived_pending LIMIT 0;

-- @section merge
-- content_stats written anew: its rows for contents no batch holds as they are; for the others the batches' figures
-- summed, and added to the row there is (the batches' layer contents were not covered, so the counts add); the first
-- path is the least, the example paths the first 5 distinct of all lists (a NULL list means one occurrence: its path).
-- Written anew, not updated in place: DuckDB keeps a version of every vector a transaction deletes from or updates in
-- memory until it ends, and the contents of a batch are spread over the whole table. In parts of about
-- derived_batch_rows (content, path) pairs, ranges of the content's hash xxh128 (section part, once per part), so that
-- no statement holds more than a part; the rows written by a part are in its range, so that the base written whole is
-- in order of ranges and a later merge's part finds its base rows by their zone maps. The figures to add are those of
-- derived_partials (this round) and derived_pending (the rounds before it).
-- What is written anew (variable derived_delta, set by DuckDbScanStore.RunSnapshotSteps): while the delta stays small
-- beside the base (a nightly scan adding a few layer contents to a fleet's store), only the delta: its rows and the
-- batches' contents, merged with their rows in the base or the delta (section merged_delta; the base is only read). Else
-- all of content_stats, into a new base, with an empty delta (section merged).
CREATE TABLE derived_content_stats AS FROM content_stats_base LIMIT 0;   -- its columns (schema.sql)

SET VARIABLE derived_parts = (SELECT CAST(greatest(1, ceil(coalesce(sum(n), 0) / getvariable('derived_batch_rows'))) AS BIGINT)
                              FROM (SELECT sum(len(paths)) AS n FROM derived_partials
                                    UNION ALL SELECT sum(len(paths)) FROM derived_pending));

-- Whether a content is in the part being written (section part; DuckDbScanStore.MergeContentStats sets derived_range
-- before each): with one part (a nightly scan's round), true without a filter on the base; else part p of n is
-- xxh128 in [p × w, (p + 1) × w − 1] with w = ⌊(2^128 − 1) / n⌋ + 1 (the last part up to 2^128 − 1), and a part after
-- them the contents whose xxh128 is NULL (none from a scan: a regular file's row has one). Variables are constants:
-- the condition folds to one comparison, which the scans take to the tables' zone maps.
CREATE OR REPLACE TEMP MACRO derived_in_part(h, s) AS
  getvariable('derived_parts') = 1
  OR (getvariable('derived_range').nulls AND h IS NULL)
  OR (NOT getvariable('derived_range').nulls AND h BETWEEN getvariable('derived_range').lo AND getvariable('derived_range').hi);

-- Writing only the delta: the rowids of the base rows of the round's contents, from a scan of the base's keys alone,
-- so that section part reads the rest of those rows only (the rowids are a filter DuckDB applies in the scan, with
-- dynamic_or_filter_threshold raised by DuckDbScanStore). At 50 M file rows: 1.3 s to read the base rows of a nightly
-- scan's contents in one pass, 0.6 + 0.1 s so.
CREATE OR REPLACE TEMP TABLE derived_matched AS
SELECT b.rowid AS rid
FROM content_stats_base b
SEMI JOIN (SELECT DISTINCT xxh128, size FROM (FROM derived_partials UNION ALL FROM derived_pending)) a ON a.xxh128 IS NOT DISTINCT FROM b.xxh128 AND a.size = b.size
WHERE getvariable('derived_delta');

-- @section part
-- The first 5 paths of each content of the part from one sort of its distinct (content, path) pairs (not a partition
-- per content, which DuckDB keeps in memory): each pair sees the 5 before it; the row that ends a content's first 5
-- (its 5th path, or its last if it has fewer) holds them all. Only contents with rows from several batches need those
-- pairs: a content one batch holds (every content of a round of one batch with nothing pending, derived_one_batch;
-- most of a step's contents when its batches are layer contents with few files in common) has its first 5 paths in
-- that batch's list already. (Counted per content without its paths: no per-content state holds strings.)
INSERT INTO derived_content_stats
WITH added_rows AS NOT MATERIALIZED (
         SELECT * FROM derived_partials WHERE derived_in_part(xxh128, size)
         UNION ALL
         SELECT * FROM derived_pending WHERE derived_in_part(xxh128, size)),
     sums AS (SELECT xxh128, size, sum(occurrences) AS occurrences, sum(layers) AS layers, count(*) AS batches
              FROM added_rows
              GROUP BY ALL),
     several AS (SELECT a.xxh128, a.size, a.paths FROM added_rows a
                 SEMI JOIN (SELECT xxh128, size FROM sums WHERE batches > 1) s
                   ON s.xxh128 IS NOT DISTINCT FROM a.xxh128 AND s.size = a.size
                 WHERE NOT getvariable('derived_one_batch')),
     single AS (SELECT a.xxh128, a.size, a.paths FROM added_rows a
                SEMI JOIN (SELECT xxh128, size FROM sums WHERE batches = 1) s
                  ON s.xxh128 IS NOT DISTINCT FROM a.xxh128 AND s.size = a.size
                WHERE NOT getvariable('derived_one_batch')
                UNION ALL
                SELECT xxh128, size, paths FROM added_rows
                WHERE getvariable('derived_one_batch')),
     derived_pairs AS (
         SELECT xxh128, size, path, {'h': xxh128, 's': size} AS content
         FROM (SELECT DISTINCT xxh128, size, unnest(paths) AS path FROM several)),
     w AS (SELECT xxh128, size, path,
                  lag(path, 1) OVER o AS q1, lag(path, 2) OVER o AS q2, lag(path, 3) OVER o AS q3, lag(path, 4) OVER o AS q4,
                  1 + CAST(lag(content, 1) OVER o IS NOT DISTINCT FROM content AS INTEGER)
                    + CAST(lag(content, 2) OVER o IS NOT DISTINCT FROM content AS INTEGER)
                    + CAST(lag(content, 3) OVER o IS NOT DISTINCT FROM content AS INTEGER)
                    + CAST(lag(content, 4) OVER o IS NOT DISTINCT FROM content AS INTEGER) AS k,
                  lag(content, 5) OVER o IS NOT DISTINCT FROM content AS after_5th,
                  lead(content, 1) OVER o IS DISTINCT FROM content AS last
           FROM derived_pairs
           WINDOW o AS (ORDER BY xxh128, size, path)),
     firsts AS (SELECT xxh128, size,
                       CASE k WHEN 1 THEN [path] WHEN 2 THEN [q1, path] WHEN 3 THEN [q2, q1, path]
                              WHEN 4 THEN [q3, q2, q1, path] ELSE [q4, q3, q2, q1, path] END AS paths
                FROM w
                WHERE (k = 5 AND NOT after_5th) OR (k < 5 AND last)
                UNION ALL
                SELECT xxh128, size, paths FROM single),
     added AS (SELECT s.xxh128, s.size, s.occurrences, s.layers, p.paths
               FROM sums s JOIN firsts p ON p.xxh128 IS NOT DISTINCT FROM s.xxh128 AND p.size = s.size),
     -- The rows there are (as the view content_stats reads them), each with the base row it is or replaces; and
     -- those written again as they are: all of them into a new base (whose rows replace nothing), or only the delta's
     -- into a new delta (derived_delta, see the section's head).
     old AS (SELECT * EXCLUDE (replaces), rowid AS replaces FROM content_stats_base
             WHERE rowid NOT IN (SELECT replaces FROM content_stats_delta WHERE replaces IS NOT NULL)
               AND (NOT getvariable('derived_delta') OR rowid IN (SELECT rid FROM derived_matched))
               AND derived_in_part(xxh128, size)
             UNION ALL
             SELECT * FROM content_stats_delta
             WHERE derived_in_part(xxh128, size)),
     kept AS (SELECT * EXCLUDE (replaces), CAST(NULL AS BIGINT) AS replaces FROM old
              WHERE NOT getvariable('derived_delta')
              UNION ALL
              SELECT * FROM content_stats_delta
              WHERE getvariable('derived_delta')
                AND derived_in_part(xxh128, size)),
     -- Joins that keep only the part's new contents in memory (the old rows of a part can be many: a fleet's).
     matched AS (SELECT t.* FROM old t SEMI JOIN added a ON a.xxh128 IS NOT DISTINCT FROM t.xxh128 AND a.size = t.size)
SELECT t.* FROM kept t ANTI JOIN added a ON a.xxh128 IS NOT DISTINCT FROM t.xxh128 AND a.size = t.size
UNION ALL
SELECT xxh128, size, occurrences, layers, first_path, example_paths, ls_directory(first_path), ls_extension(first_path),
       CASE WHEN getvariable('derived_delta') THEN replaces END
FROM (SELECT a.xxh128, a.size, t.replaces, coalesce(t.occurrences, 0) + a.occurrences AS occurrences,
             coalesce(t.layers, 0) + a.layers AS layers,
             CASE WHEN t.size IS NULL THEN a.paths[1] ELSE least(t.first_path, a.paths[1]) END AS first_path,
             CASE WHEN t.size IS NULL THEN CASE WHEN a.occurrences >= 2 THEN a.paths END
                  ELSE list_sort(list_distinct(list_concat(coalesce(t.example_paths, [t.first_path]), a.paths)))[1:5] END
               AS example_paths
      FROM added a LEFT JOIN matched t ON t.xxh128 IS NOT DISTINCT FROM a.xxh128 AND t.size = a.size);

-- @section merged
-- The rows written are the new base; the delta is empty; nothing is pending.
DROP TABLE derived_partials;

DROP TABLE derived_pending;

DROP TABLE content_stats_base;

ALTER TABLE derived_content_stats RENAME TO content_stats_base;

DELETE FROM content_stats_delta;

-- @section merged_delta
-- The rows written are the new delta; the base is as it was; nothing is pending.
DROP TABLE derived_partials;

DROP TABLE derived_pending;

DROP TABLE content_stats_delta;

ALTER TABLE derived_content_stats RENAME TO content_stats_delta;

-- @section images
-- file_duplicate_bytes of the images not covered yet: Σ over its distinct layer contents of their within-layer
-- duplicate bytes, plus for each content found in k >= 2 of them, size × (k − 1). The latter is summed along the
-- image's layer sequence (each layer content counted at its first position): a layer adds the bytes of its contents
-- already in a layer below it. Images sharing a prefix share that work (a prefix is a node, as in shared_bases),
-- and only contents stored in two or more layers at all can take part.
-- These small TEMP tables (an image's layers: ~74 k rows for 10,000 images) are made before the image step's
-- transaction, one committed statement each, so that the planner knows their row counts in section image_rows: rows
-- a transaction has not committed count as none, and the join of `files` with them was then taken for a few rows and
-- made the build side of the join with content_stats (11 M rows at 50 M file rows: out of the scan's 80 MB).
CREATE OR REPLACE TEMP TABLE derived_images AS
SELECT image_id FROM images WHERE image_id NOT IN (SELECT image_id FROM image_file_stats);

CREATE OR REPLACE TEMP TABLE derived_ids AS
SELECT diff_id, CAST(row_number() OVER (ORDER BY diff_id) AS INTEGER) AS lid FROM derived_contents;

CREATE OR REPLACE TEMP TABLE derived_chain AS
WITH first_pos AS (SELECT il.image_id, ids.lid, min(il.position) AS position
                   FROM image_layers il JOIN derived_ids ids ON ids.diff_id = il.diff_id
                   WHERE il.image_id IN (SELECT image_id FROM derived_images)
                   GROUP BY il.image_id, ids.lid),
     chain AS (SELECT image_id, lid,
                      coalesce(list(lid) OVER (PARTITION BY image_id ORDER BY position
                                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), []) AS below
               FROM first_pos)
SELECT image_id, lid, below, md5(array_to_string(list_append(below, lid), ',')) AS node
FROM chain;

-- @section image_rows
-- The layers' files whose content can take part (a table of the database, not TEMP: tens of millions of rows on a
-- fleet; 11 M at 50 M file rows), with a hash h of the content, in order of h: section image_part takes them in parts
-- of about derived_batch_rows / 4 rows, each a range of h (a node's bytes are a sum over contents), which the scan finds
-- by the table's zone maps instead of reading every row once per part (0.4 s per part at 50 M file rows; the sort costs
-- ~4 s; sorted in a statement of its own: in the join's statement it ran out of 80 MB). Not made distinct here: a
-- DISTINCT over all of them at once is a hash table of every row (out of 80 MB at 50 M file rows); each part makes its
-- own rows distinct.
CREATE TABLE derived_x_rows AS
SELECT ids.lid, f.xxh128, f.size, hash(f.xxh128, f.size) AS h
FROM files f
JOIN derived_ids ids ON ids.diff_id = f.diff_id
SEMI JOIN (SELECT xxh128, size FROM content_stats WHERE layers >= 2) c ON c.xxh128 IS NOT DISTINCT FROM f.xxh128 AND c.size = f.size
WHERE f.kind = 'file'
  AND ids.lid IN (SELECT lid FROM derived_chain WHERE len(below) > 0 UNION SELECT unnest(below) FROM derived_chain);

CREATE TABLE derived_x AS SELECT lid, xxh128, size, h FROM derived_x_rows ORDER BY h;

DROP TABLE derived_x_rows;

SET VARIABLE derived_image_parts = (SELECT CAST(greatest(1, ceil(4 * count(*) / getvariable('derived_batch_rows'))) AS BIGINT) FROM derived_x);

-- Part p is h in [p × width, (p + 1) × width − 1]: the parts cover all 2^64 values of h.
SET VARIABLE derived_image_width = CAST('18446744073709551616' AS HUGEINT) // getvariable('derived_image_parts') + 1;

CREATE TABLE derived_node_pairs AS
SELECT DISTINCT node, lid, unnest(below) AS lid_below FROM derived_chain WHERE len(below) > 0;

CREATE TABLE derived_overlap (node VARCHAR, bytes HUGEINT);

-- @section image_part
-- A node's contents (x a, by its top layer) that a layer below it holds too (x b). b is joined on one key made of the
-- layer below (from the node's pairs) and the content (from a), so that it can only be joined after the pairs and a:
-- with the conditions apart, the planner joined a and b on the content first, which is k² rows for a content in k
-- layers (a content in 20,762 layers at 50 M file rows: 431 M rows, 77 s for one part at 80 MB instead of 0.4 s).
SET VARIABLE derived_image_lo = CAST(getvariable('derived_image_part') * getvariable('derived_image_width') AS UBIGINT);

SET VARIABLE derived_image_hi = CAST(least((getvariable('derived_image_part') + 1) * getvariable('derived_image_width') - 1,
                                           CAST('18446744073709551615' AS HUGEINT)) AS UBIGINT);

INSERT INTO derived_overlap
WITH x AS (SELECT DISTINCT lid, xxh128, size FROM derived_x
           WHERE h BETWEEN getvariable('derived_image_lo') AND getvariable('derived_image_hi'))
SELECT node, sum(size)
FROM (SELECT DISTINCT p.node, a.xxh128, a.size
      FROM derived_node_pairs p
      JOIN x a ON a.lid = p.lid
      JOIN (SELECT {'lid': lid, 'xxh128': xxh128, 'size': size} AS k FROM x) b
        ON b.k IS NOT DISTINCT FROM {'lid': p.lid_below, 'xxh128': a.xxh128, 'size': a.size})
GROUP BY node;

-- @section images_done
INSERT INTO image_file_stats
WITH overlap AS (SELECT node, sum(bytes) AS bytes FROM derived_overlap GROUP BY node),
     per_image AS (SELECT c.image_id, sum(coalesce(o.bytes, 0)) + sum(coalesce(w.within_layer_duplicate_bytes, 0)) AS bytes
                   FROM derived_chain c
                   LEFT JOIN overlap o ON o.node = c.node
                   JOIN derived_ids ids ON ids.lid = c.lid
                   LEFT JOIN layer_file_stats w ON w.diff_id = ids.diff_id
                   GROUP BY c.image_id)
SELECT i.image_id, CAST(coalesce(p.bytes, 0) AS BIGINT)
FROM derived_images i LEFT JOIN per_image p ON p.image_id = i.image_id;

DROP TABLE derived_overlap;
DROP TABLE derived_node_pairs;
DROP TABLE derived_x;
DROP TABLE derived_chain;
DROP TABLE derived_ids;
DROP TABLE derived_images;

-- @section totals
-- The totals of the run over the images it saw. When it saw every referenced layer content (a fleet rescanned whole),
-- the file figures are the derived table's; otherwise they are computed over its layer contents.
UPDATE scan_runs SET
  run_images = t.run_images,
  stored_bytes = t.stored_bytes,
  flat_bytes = t.flat_bytes,
  file_unique_content_bytes = t.file_unique_content_bytes,
  file_duplicate_bytes = t.file_duplicate_bytes,
  layers_new = t.layers_new,
  layers_gone = t.layers_gone
FROM (
  WITH
    this_images AS (SELECT image_id FROM run_images WHERE run_id = $1),
    prev_run AS (SELECT max(run_id) AS run_id FROM scan_runs WHERE run_id < $1 AND status <> 'running'),
    this_layers AS (SELECT DISTINCT d.digest, d.size FROM image_layer_details d JOIN this_images USING (image_id)),
    prev_layers AS (SELECT DISTINCT il.digest FROM image_layers il JOIN run_images r USING (image_id)
                    WHERE r.run_id = (SELECT run_id FROM prev_run)),
    diffs AS (SELECT DISTINCT il.diff_id FROM image_layers il JOIN this_images USING (image_id)),
    whole AS (SELECT NOT EXISTS (SELECT diff_id FROM referenced_contents EXCEPT SELECT diff_id FROM diffs)
                     AND (SELECT fresh FROM derived_state) AS whole),
    partial_diffs AS (SELECT diff_id FROM diffs WHERE NOT (SELECT whole FROM whole)),
    contents AS (SELECT f.xxh128, f.size, count(*) AS n FROM content_files f
                 WHERE f.diff_id IN (SELECT diff_id FROM partial_diffs) GROUP BY ALL
                 UNION ALL
                 SELECT xxh128, size, occurrences FROM content_stats WHERE (SELECT whole FROM whole))
  SELECT
    (SELECT count(*) FROM this_images) AS run_images,
    (SELECT coalesce(sum(size), 0) FROM this_layers) AS stored_bytes,
    (SELECT coalesce(sum(d.size), 0) FROM image_layer_details d JOIN this_images USING (image_id)) AS flat_bytes,
    (SELECT coalesce(sum(size), 0) FROM contents) AS file_unique_content_bytes,
    (SELECT coalesce(sum(size * (n - 1)), 0) FROM contents) AS file_duplicate_bytes,
    CASE WHEN (SELECT run_id FROM prev_run) IS NULL THEN (SELECT count(*) FROM this_layers)
         ELSE (SELECT count(*) FROM this_layers WHERE digest NOT IN (SELECT digest FROM prev_layers)) END AS layers_new,
    CASE WHEN (SELECT run_id FROM prev_run) IS NULL THEN 0
         ELSE (SELECT count(*) FROM prev_layers WHERE digest NOT IN (SELECT digest FROM this_layers)) END AS layers_gone
) AS t
WHERE scan_runs.run_id = $1;
