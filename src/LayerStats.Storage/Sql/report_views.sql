-- Views that the HTML, CSV and console reports read beyond the figures of views.sql.
-- They are built on the views of views.sql, so every report agrees with the summary by construction.

-- The copies of duplicated file contents that file-level dedup would remove: for each content (hash, size),
-- every occurrence but the first in (path, diff_id, seq) order. Σ size over this view = summary.file_duplicate_bytes.
CREATE OR REPLACE VIEW duplicate_copies AS
SELECT diff_id, seq, path, size, xxh128
FROM (SELECT cf.diff_id, cf.seq, cf.path, cf.size, cf.xxh128,
             row_number() OVER (PARTITION BY cf.xxh128, cf.size ORDER BY cf.path, cf.diff_id, cf.seq) AS copy
      FROM content_files cf)
WHERE copy > 1;

-- duplicate_copies while the derived tables are stale; no rows while they are fresh.
CREATE OR REPLACE VIEW duplicate_copies_live AS
SELECT diff_id, seq, path, size, xxh128
FROM (SELECT cf.diff_id, cf.seq, cf.path, cf.size, cf.xxh128,
             row_number() OVER (PARTITION BY cf.xxh128, cf.size ORDER BY cf.path, cf.diff_id, cf.seq) AS copy
      FROM content_files_live cf)
WHERE copy > 1;

-- Duplicate bytes by directory (ls_directory of each duplicate copy's path). Σ duplicate_bytes = summary.file_duplicate_bytes.
-- From the derived tables: the copies are all regular files but the first occurrence of each content (whose path is
-- example_paths[1]), so per directory: Σ over the layers' files − Σ over the contents' first occurrences.
CREATE OR REPLACE VIEW duplicate_bytes_by_directory AS
SELECT directory, CAST(sum(n) AS BIGINT) AS duplicate_files, CAST(sum(b) AS BIGINT) AS duplicate_bytes
FROM (SELECT directory, sum(files) AS n, sum(bytes) AS b FROM layer_path_stats
      WHERE (SELECT fresh FROM derived_state) GROUP BY directory
      UNION ALL
      SELECT first_directory, -count(*), -sum(size) FROM content_stats
      WHERE (SELECT fresh FROM derived_state) GROUP BY first_directory)
GROUP BY directory
HAVING sum(n) > 0
UNION ALL
SELECT directory, count(*), CAST(sum(size) AS BIGINT)
FROM (SELECT size, ls_directory(path) AS directory FROM duplicate_copies_live)
GROUP BY directory;

-- Duplicate bytes by file type (ls_extension of each duplicate copy's path). Σ duplicate_bytes = summary.file_duplicate_bytes.
CREATE OR REPLACE VIEW duplicate_bytes_by_extension AS
SELECT extension, CAST(sum(n) AS BIGINT) AS duplicate_files, CAST(sum(b) AS BIGINT) AS duplicate_bytes
FROM (SELECT extension, sum(files) AS n, sum(bytes) AS b FROM layer_path_stats
      WHERE (SELECT fresh FROM derived_state) GROUP BY extension
      UNION ALL
      SELECT first_extension, -count(*), -sum(size) FROM content_stats
      WHERE (SELECT fresh FROM derived_state) GROUP BY first_extension)
GROUP BY extension
HAVING sum(n) > 0
UNION ALL
SELECT extension, count(*), CAST(sum(size) AS BIGINT)
FROM (SELECT size, ls_extension(path) AS extension FROM duplicate_copies_live)
GROUP BY extension;

-- Per image, its bytes split by whether each layer blob is shared with another image (layer_refs.refs >= 2) or
-- its own, compressed and uncompressed; with the image's hidden bytes (files shipped but not visible).
CREATE OR REPLACE VIEW image_stacked_bytes AS
SELECT s.image_id, s.names, s.platform, s.layers,
       CAST(count(*) FILTER (WHERE r.refs >= 2) AS BIGINT) AS shared_layers,
       CAST(coalesce(sum(d.size) FILTER (WHERE r.refs >= 2), 0) AS BIGINT) AS shared_compressed_bytes,
       CAST(coalesce(sum(d.size) FILTER (WHERE r.refs < 2), 0) AS BIGINT) AS unique_compressed_bytes,
       CAST(coalesce(sum(d.uncompressed_size) FILTER (WHERE r.refs >= 2), 0) AS BIGINT) AS shared_uncompressed_bytes,
       CAST(coalesce(sum(d.uncompressed_size) FILTER (WHERE r.refs < 2), 0) AS BIGINT) AS unique_uncompressed_bytes,
       s.hidden_bytes,
       s.compressed_bytes, s.uncompressed_bytes
FROM image_summary s
JOIN image_layer_details d ON d.image_id = s.image_id
JOIN layer_refs r ON r.digest = d.digest
GROUP BY s.image_id, s.names, s.platform, s.layers, s.hidden_bytes, s.compressed_bytes, s.uncompressed_bytes;

-- One row per distinct layer blob referenced by images: its facts, how many images use it, what layering saves on
-- it, the regular files it holds, and the created_by most images state for it.
CREATE OR REPLACE VIEW layer_summary AS
SELECT r.digest, r.diff_id, r.size, r.uncompressed_size, l.compression, l.media_type, l.is_foreign,
       r.refs,
       CAST(r.size * (r.refs - 1) AS BIGINT) AS saved_bytes,
       coalesce(fs.files, 0) AS files,
       (SELECT mode(il.created_by) FROM image_layers il WHERE il.digest = r.digest) AS created_by
FROM layer_refs r
JOIN layers l ON l.digest = r.digest
LEFT JOIN (SELECT diff_id, files FROM layer_file_stats WHERE (SELECT fresh FROM derived_state)
           UNION ALL
           SELECT diff_id, count(*) FROM content_files_live GROUP BY diff_id) fs ON fs.diff_id = r.diff_id;

-- The drill-down of one image: its layers bottom (0) to top with blob facts, how many images use each blob,
-- and the image's own created_by for it.
CREATE OR REPLACE VIEW image_layer_report AS
SELECT d.image_id, d.position, d.digest, d.diff_id, d.size, d.uncompressed_size, d.compression, r.refs, d.created_by
FROM image_layer_details d
JOIN layer_refs r ON r.digest = d.digest;

-- One row per scan run, with what it added: images first seen and layer blobs first stored by it.
CREATE OR REPLACE VIEW run_history AS
SELECT s.run_id, s.started_at, s.finished_at, s.status, s.tool_version, s.file_hashing, s.inputs,
       s.images_ok, s.images_failed, s.layers_read, s.layers_skipped, s.bytes_read, s.errors,
       -- the run's totals over the images it saw (as the trend view):
       s.run_images AS images, s.stored_bytes, s.flat_bytes, s.file_unique_content_bytes, s.file_duplicate_bytes,
       s.layers_new, s.layers_gone,
       CAST(date_diff('millisecond', s.started_at, s.finished_at) / 1000.0 AS DOUBLE) AS duration_seconds,
       (SELECT count(*) FROM images i WHERE i.first_run_id = s.run_id) AS images_new,
       (SELECT count(*) FROM layers l WHERE l.run_id = s.run_id) AS layers_stored
FROM scan_runs s;

-- Storage at three levels of deduplication, for the "flat vs stored vs file-deduplicated" chart:
-- compressed (registry blobs): flat, layers deduplicated; uncompressed (content): flat, layers deduplicated, and
-- layers deduplicated minus file_duplicate_bytes (what file-level dedup would store on top of layering).
CREATE OR REPLACE VIEW storage_levels AS
SELECT 'compressed' AS basis, 1 AS level, 'flat' AS name, flat_compressed_bytes AS bytes FROM summary
UNION ALL SELECT 'compressed', 2, 'layers deduplicated', unique_compressed_bytes FROM summary
UNION ALL SELECT 'uncompressed', 1, 'flat', flat_uncompressed_bytes FROM summary
UNION ALL SELECT 'uncompressed', 2, 'layers deduplicated', unique_uncompressed_bytes FROM summary
UNION ALL SELECT 'uncompressed', 3, 'files deduplicated', CAST(unique_uncompressed_bytes - file_duplicate_bytes AS BIGINT) FROM summary;
