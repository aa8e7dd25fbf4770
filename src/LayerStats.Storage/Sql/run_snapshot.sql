-- At the end of every run (parameter $1: the run id), by the one writer:
-- 1. bring the derived tables (schema.sql) up to date with the stored layer contents images reference: add the
--    contents not covered yet; start over when a covered one is gone or was replaced;
-- 2. write the totals of the run over the images it saw into its scan_runs row.
-- Every statement names $1 (the statements of a command share its parameters).

DELETE FROM content_stats WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);
DELETE FROM layer_file_stats WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);
DELETE FROM derived_contents WHERE $1 IS NOT NULL AND EXISTS (
    SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents);

CREATE OR REPLACE TEMP TABLE derived_new AS
SELECT r.diff_id, r.run_id FROM referenced_contents r
WHERE $1 IS NOT NULL AND r.diff_id NOT IN (SELECT diff_id FROM derived_contents);

MERGE INTO content_stats t
USING (SELECT f.xxh128, f.size, count(*) AS occurrences, count(DISTINCT f.diff_id) AS layers,
              list(DISTINCT f.path ORDER BY f.path)[1:5] AS example_paths
       FROM files f
       WHERE f.kind = 'file' AND f.diff_id IN (SELECT diff_id FROM derived_new) AND $1 IS NOT NULL
       GROUP BY f.xxh128, f.size) s
ON t.xxh128 IS NOT DISTINCT FROM s.xxh128 AND t.size = s.size
WHEN MATCHED THEN UPDATE SET
    occurrences = t.occurrences + s.occurrences,
    layers = t.layers + s.layers,
    example_paths = list_sort(list_distinct(list_concat(t.example_paths, s.example_paths)))[1:5]
WHEN NOT MATCHED THEN INSERT VALUES (s.xxh128, s.size, s.occurrences, s.layers, s.example_paths);

INSERT INTO layer_file_stats
SELECT diff_id, sum(n), sum(size * n), sum(size * (n - 1))
FROM (SELECT f.diff_id, f.xxh128, f.size, count(*) AS n FROM files f
      WHERE f.kind = 'file' AND f.diff_id IN (SELECT diff_id FROM derived_new) AND $1 IS NOT NULL
      GROUP BY ALL)
GROUP BY diff_id;

INSERT INTO derived_contents SELECT diff_id, run_id FROM derived_new WHERE $1 IS NOT NULL;

DROP TABLE derived_new;

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
