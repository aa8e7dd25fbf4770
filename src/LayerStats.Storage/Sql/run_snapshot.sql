-- The totals of one run over the images it saw, written into its scan_runs row when it finishes.
-- Parameter $1: the run id.
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
    contents AS (SELECT f.xxh128, f.size, count(*) AS n FROM content_files f JOIN diffs USING (diff_id) GROUP BY ALL)
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
