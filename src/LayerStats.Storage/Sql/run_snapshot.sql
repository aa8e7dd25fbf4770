-- At the end of every run (parameter $1: the run id), by the one writer:
-- 1. bring the derived tables (schema.sql) up to date with the stored layer contents images reference: add the
--    contents not covered yet; start over when a covered one is gone or was replaced;
-- 2. write the totals of the run over the images it saw into its scan_runs row.
-- Every statement names $1 (the statements of a command share its parameters).

DELETE FROM content_stats WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);
DELETE FROM layer_file_stats WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);
DELETE FROM layer_path_stats WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);
DELETE FROM image_file_stats WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);
DELETE FROM derived_contents WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);

CREATE OR REPLACE TEMP TABLE derived_new AS
SELECT r.diff_id, r.run_id FROM referenced_contents r
WHERE $1 IS NOT NULL AND r.diff_id NOT IN (SELECT diff_id FROM derived_contents);

CREATE OR REPLACE TEMP TABLE derived_new_contents AS
SELECT f.xxh128, f.size, count(*) AS occurrences, count(DISTINCT f.diff_id) AS layers, min(f.path) AS first_path
FROM files f
WHERE f.kind = 'file' AND f.diff_id IN (SELECT diff_id FROM derived_new) AND $1 IS NOT NULL
GROUP BY f.xxh128, f.size;

-- The first 5 distinct paths (in the new layer contents) of each content that occurs twice or more: as five
-- fixed-size aggregates over a sort, not a list aggregate (whose states DuckDB cannot spill under its memory limit).
CREATE OR REPLACE TEMP TABLE derived_new_paths AS
WITH keys AS (SELECT n.xxh128, n.size FROM derived_new_contents n
              WHERE n.occurrences >= 2
                 OR EXISTS (SELECT 1 FROM content_stats t WHERE t.xxh128 IS NOT DISTINCT FROM n.xxh128 AND t.size = n.size)),
     d AS (SELECT DISTINCT f.xxh128, f.size, f.path
           FROM files f SEMI JOIN keys k ON k.xxh128 IS NOT DISTINCT FROM f.xxh128 AND k.size = f.size
           WHERE f.kind = 'file' AND f.diff_id IN (SELECT diff_id FROM derived_new)),
     r AS (SELECT xxh128, size, path, row_number() OVER (PARTITION BY xxh128, size ORDER BY path) AS rn FROM d)
SELECT xxh128, size,
       list_filter([max(path) FILTER (WHERE rn = 1), max(path) FILTER (WHERE rn = 2), max(path) FILTER (WHERE rn = 3),
                    max(path) FILTER (WHERE rn = 4), max(path) FILTER (WHERE rn = 5)], p -> p IS NOT NULL) AS paths
FROM r
WHERE rn <= 5 AND $1 IS NOT NULL
GROUP BY xxh128, size;

UPDATE content_stats t SET
    occurrences = t.occurrences + s.occurrences,
    layers = t.layers + s.layers,
    first_path = least(t.first_path, s.first_path),
    example_paths = list_sort(list_distinct(list_concat(coalesce(t.example_paths, [t.first_path]), s.paths)))[1:5],
    first_directory = ls_directory(least(t.first_path, s.first_path)),
    first_extension = ls_extension(least(t.first_path, s.first_path))
FROM (SELECT n.*, p.paths FROM derived_new_contents n
      JOIN derived_new_paths p ON p.xxh128 IS NOT DISTINCT FROM n.xxh128 AND p.size = n.size) s
WHERE t.xxh128 IS NOT DISTINCT FROM s.xxh128 AND t.size = s.size AND $1 IS NOT NULL;

INSERT INTO content_stats
SELECT n.xxh128, n.size, n.occurrences, n.layers, n.first_path, CASE WHEN n.occurrences >= 2 THEN p.paths END,
       ls_directory(n.first_path), ls_extension(n.first_path)
FROM derived_new_contents n
LEFT JOIN derived_new_paths p ON p.xxh128 IS NOT DISTINCT FROM n.xxh128 AND p.size = n.size
WHERE $1 IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM content_stats t WHERE t.xxh128 IS NOT DISTINCT FROM n.xxh128 AND t.size = n.size);

DROP TABLE derived_new_paths;
DROP TABLE derived_new_contents;

INSERT INTO layer_path_stats
SELECT f.diff_id, ls_directory(f.path), ls_extension(f.path), count(*), sum(f.size)
FROM files f
WHERE f.kind = 'file' AND f.diff_id IN (SELECT diff_id FROM derived_new) AND $1 IS NOT NULL
GROUP BY ALL;

INSERT INTO layer_file_stats
SELECT diff_id, sum(n), sum(size * n), sum(size * (n - 1))
FROM (SELECT f.diff_id, f.xxh128, f.size, count(*) AS n FROM files f
      WHERE f.kind = 'file' AND f.diff_id IN (SELECT diff_id FROM derived_new) AND $1 IS NOT NULL
      GROUP BY ALL)
GROUP BY diff_id;

INSERT INTO derived_contents SELECT diff_id, run_id FROM derived_new WHERE $1 IS NOT NULL;

DROP TABLE derived_new;

-- file_duplicate_bytes of the images not covered yet: Σ over its distinct layer contents of their within-layer
-- duplicate bytes, plus for each content found in k >= 2 of them, size × (k − 1). The latter is summed along the
-- image's layer sequence (each layer content counted at its first position): a layer adds the bytes of its contents
-- already in a layer below it. Images sharing a prefix share that work (a prefix is a node, as in shared_bases),
-- and only contents stored in two or more layers at all can take part.
CREATE OR REPLACE TEMP TABLE derived_images AS
SELECT image_id FROM images WHERE $1 IS NOT NULL AND image_id NOT IN (SELECT image_id FROM image_file_stats);

CREATE OR REPLACE TEMP TABLE derived_ids AS
SELECT diff_id, CAST(row_number() OVER (ORDER BY diff_id) AS INTEGER) AS lid FROM derived_contents WHERE $1 IS NOT NULL;

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
FROM chain WHERE $1 IS NOT NULL;

CREATE OR REPLACE TEMP TABLE derived_x AS
SELECT DISTINCT ids.lid, f.xxh128, f.size
FROM files f JOIN derived_ids ids ON ids.diff_id = f.diff_id
WHERE f.kind = 'file' AND $1 IS NOT NULL
  AND ids.lid IN (SELECT lid FROM derived_chain WHERE len(below) > 0 UNION SELECT unnest(below) FROM derived_chain)
  AND (f.xxh128, f.size) IN (SELECT (xxh128, size) FROM content_stats WHERE layers >= 2);

INSERT INTO image_file_stats
WITH pairs AS (SELECT DISTINCT node, lid, unnest(below) AS lid_below FROM derived_chain WHERE len(below) > 0),
     overlap AS (SELECT node, sum(size) AS bytes
                 FROM (SELECT DISTINCT p.node, a.xxh128, a.size
                       FROM pairs p
                       JOIN derived_x a ON a.lid = p.lid
                       JOIN derived_x b ON b.lid = p.lid_below AND b.xxh128 IS NOT DISTINCT FROM a.xxh128 AND b.size = a.size)
                 GROUP BY node),
     per_image AS (SELECT c.image_id, sum(coalesce(o.bytes, 0)) + sum(coalesce(w.within_layer_duplicate_bytes, 0)) AS bytes
                   FROM derived_chain c
                   LEFT JOIN overlap o ON o.node = c.node
                   JOIN derived_ids ids ON ids.lid = c.lid
                   LEFT JOIN layer_file_stats w ON w.diff_id = ids.diff_id
                   GROUP BY c.image_id)
SELECT i.image_id, CAST(coalesce(p.bytes, 0) AS BIGINT)
FROM derived_images i LEFT JOIN per_image p ON p.image_id = i.image_id
WHERE $1 IS NOT NULL;

DROP TABLE derived_x;
DROP TABLE derived_chain;
DROP TABLE derived_ids;
DROP TABLE derived_images;

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
