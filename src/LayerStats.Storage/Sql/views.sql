-- Views: the definitions of DESIGN.md §3. Every report reads these; recreated on every open.

-- The directory a file is counted under: the first two levels of its parent directory ('usr/lib/x/y.so' -> 'usr/lib',
-- 'etc/a' -> 'etc', 'a' -> '/').
CREATE OR REPLACE MACRO ls_directory(path) AS
  CASE WHEN strpos(path, '/') = 0 THEN '/'
       WHEN strpos(substr(path, strpos(path, '/') + 1), '/') = 0 THEN substr(path, 1, strpos(path, '/') - 1)
       ELSE substr(path, 1, strpos(path, '/') + strpos(substr(path, strpos(path, '/') + 1), '/') - 1) END;

-- The file type a file is counted under: the lower-cased extension of its name, its last suffix that is not all
-- digits, before any version numbers ('libz.so.1.3' -> 'so', 'a.tar.gz' -> 'gz'); a leading '.' starts no extension
-- ('.bashrc'); '(none)' without one.
CREATE OR REPLACE MACRO ls_extension(path) AS
  coalesce(lower(nullif(regexp_extract(string_split(path, '/')[-1], '^[^.].*?\.([^.]*[^.0-9][^.]*)(\.[0-9]+)*$', 1), '')), '(none)');

-- One row per distinct regular-file content over the covered layer contents (schema.sql, content_stats_base): the
-- base table's rows that the delta table does not replace (by rowid), and the delta's.
CREATE OR REPLACE VIEW content_stats AS
SELECT xxh128, size, occurrences, layers, first_path, example_paths, first_directory, first_extension
FROM content_stats_base
WHERE rowid NOT IN (SELECT replaces FROM content_stats_delta WHERE replaces IS NOT NULL)
UNION ALL
SELECT xxh128, size, occurrences, layers, first_path, example_paths, first_directory, first_extension
FROM content_stats_delta;

-- A repository as people write it: image_refs.repository is canonical ('docker.io/library/web',
-- src/LayerStats.Core/Images/RepositoryNames.cs); Docker Hub names print short, as docker prints them
-- ('docker.io/library/web' -> 'web', 'docker.io/team/app' -> 'team/app'); any other name unchanged.
CREATE OR REPLACE MACRO ls_familiar_name(repository) AS
  CASE WHEN starts_with(repository, 'docker.io/library/') AND strpos(substr(repository, 19), '/') = 0 THEN substr(repository, 19)
       WHEN starts_with(repository, 'docker.io/') THEN substr(repository, 11)
       ELSE repository END;

-- Layers of committed images with their blob facts.
CREATE OR REPLACE VIEW image_layer_details AS
SELECT il.image_id, il.position, il.digest, il.diff_id, il.created_by,
       l.size, l.uncompressed_size, l.media_type, l.compression, l.is_foreign
FROM image_layers il
JOIN layers l ON l.digest = il.digest;

-- Distinct blobs referenced by images, with the number of distinct images using each.
CREATE OR REPLACE VIEW layer_refs AS
SELECT digest, any_value(size) AS size, any_value(diff_id) AS diff_id,
       any_value(uncompressed_size) AS uncompressed_size, count(DISTINCT image_id) AS refs
FROM image_layer_details
GROUP BY digest;

-- Regular files (hardlinks excluded) over the distinct layer contents (diff_ids) referenced by images.
CREATE OR REPLACE VIEW content_files AS
SELECT f.diff_id, f.seq, f.path, f.size, f.xxh128, f.sha256
FROM files f
WHERE f.kind = 'file'
  AND f.diff_id IN (SELECT diff_id FROM image_layers)
  AND f.diff_id IN (SELECT diff_id FROM layer_contents);

-- The stored layer contents that images reference, with the run that stored each: what the derived tables
-- (schema.sql) must cover for the views to read them.
CREATE OR REPLACE VIEW referenced_contents AS
SELECT c.diff_id, c.run_id FROM layer_contents c WHERE c.diff_id IN (SELECT diff_id FROM image_layers);

-- Whether the derived tables cover exactly the referenced layer contents (true after every finished scan).
CREATE OR REPLACE VIEW derived_state AS
SELECT NOT EXISTS (SELECT diff_id, run_id FROM referenced_contents EXCEPT SELECT diff_id, content_run_id FROM derived_contents)
   AND NOT EXISTS (SELECT diff_id, content_run_id FROM derived_contents EXCEPT SELECT diff_id, run_id FROM referenced_contents)
   AS fresh;

-- content_files while the derived tables are stale; no rows (and no scan of `files`: one semi-join whose build side
-- is empty) while they are fresh.
CREATE OR REPLACE VIEW content_files_live AS
SELECT f.diff_id, f.seq, f.path, f.size, f.xxh128, f.sha256
FROM files f
WHERE f.diff_id IN (SELECT diff_id FROM referenced_contents WHERE NOT (SELECT fresh FROM derived_state))
  AND f.kind = 'file';

-- One row per distinct file content (hash, size) with its occurrences.
CREATE OR REPLACE VIEW file_contents AS
SELECT xxh128, size, occurrences, layers FROM content_stats WHERE (SELECT fresh FROM derived_state)
UNION ALL
SELECT xxh128, size, count(*) AS occurrences, count(DISTINCT diff_id) AS layers
FROM content_files_live
GROUP BY xxh128, size;

CREATE OR REPLACE VIEW file_contents_per_layer AS
SELECT xxh128, size, diff_id, count(*) AS occurrences
FROM content_files
GROUP BY xxh128, size, diff_id;

-- Shared layers: blobs used by two or more distinct images.
CREATE OR REPLACE VIEW shared_layers AS
SELECT digest, refs, size, CAST(size * (refs - 1) AS BIGINT) AS saved_bytes, diff_id, uncompressed_size
FROM layer_refs
WHERE refs >= 2;

-- Duplicate file contents: content hash, size, occurrences, example paths, duplicate bytes.
CREATE OR REPLACE VIEW duplicate_files AS
SELECT lower(printf('%032x', s.xxh128)) AS content_hash,
       s.size,
       s.occurrences,
       s.layers,
       CAST(s.size * (s.occurrences - 1) AS BIGINT) AS duplicate_bytes,
       s.example_paths
FROM content_stats s
WHERE s.occurrences >= 2 AND (SELECT fresh FROM derived_state)
UNION ALL
SELECT lower(printf('%032x', cf.xxh128)),
       cf.size,
       count(*),
       count(DISTINCT cf.diff_id),
       CAST(cf.size * (count(*) - 1) AS BIGINT),
       list(DISTINCT cf.path ORDER BY cf.path)[1:5]
FROM content_files_live cf
GROUP BY cf.xxh128, cf.size
HAVING count(*) >= 2;

-- Per image: identity, sizes, hidden bytes, dive's figures.
CREATE OR REPLACE VIEW image_summary AS
SELECT i.image_id, i.config_digest, i.manifest_digest,
       i.os || '/' || i.architecture || coalesce('/' || i.variant, '') AS platform,
       n.names,
       i.layer_count AS layers,
       i.compressed_bytes, i.uncompressed_bytes,
       i.hidden_bytes, i.hidden_files,
       i.dive_efficiency AS efficiency,
       i.dive_wasted_bytes AS wasted_bytes,
       i.dive_user_wasted_percent AS user_wasted_percent,
       i.created
FROM images i
LEFT JOIN (SELECT image_id, string_agg(DISTINCT name, ', ' ORDER BY name) AS names
           FROM (SELECT image_id,
                        CASE WHEN repository = '' THEN NULL
                             ELSE ls_familiar_name(repository) || CASE WHEN tag = '' THEN '' ELSE ':' || tag END END AS name
                 FROM image_refs)
           GROUP BY image_id) n ON n.image_id = i.image_id;

-- The one-row summary of DESIGN.md §3.
CREATE OR REPLACE VIEW summary AS
WITH
  img AS (SELECT count(*) AS images, coalesce(sum(hidden_bytes), 0) AS hidden_bytes FROM images),
  flat AS (SELECT coalesce(sum(size), 0) AS flat_compressed_bytes,
                  coalesce(sum(uncompressed_size), 0) AS flat_uncompressed_bytes
           FROM image_layer_details),
  blobs AS (SELECT count(*) AS distinct_layers,
                   coalesce(sum(size), 0) AS unique_compressed_bytes,
                   count(*) FILTER (WHERE refs >= 2) AS shared_layers,
                   coalesce(sum(size * (refs - 1)) FILTER (WHERE refs >= 2), 0) AS shared_layer_saved_bytes
            FROM layer_refs),
  contents AS (SELECT count(*) AS distinct_diff_ids, coalesce(sum(uncompressed_size), 0) AS unique_uncompressed_bytes
               FROM (SELECT diff_id, max(uncompressed_size) AS uncompressed_size FROM layer_refs GROUP BY diff_id)),
  fc AS (SELECT coalesce(sum(occurrences), 0) AS file_count,
                coalesce(sum(size * occurrences), 0) AS file_content_bytes,
                coalesce(sum(size), 0) AS file_unique_content_bytes,
                coalesce(sum(size * (occurrences - 1)), 0) AS file_duplicate_bytes,
                coalesce(sum(size * (layers - 1)), 0) AS file_duplicate_across_layers_bytes
         FROM file_contents),
  fl AS (SELECT coalesce(sum(b), 0) AS file_duplicate_within_layer_bytes
         FROM (SELECT within_layer_duplicate_bytes AS b FROM layer_file_stats WHERE (SELECT fresh FROM derived_state)
               UNION ALL
               SELECT size * (count(*) - 1) FROM content_files_live GROUP BY xxh128, size, diff_id))
SELECT
  CAST(img.images AS BIGINT) AS images,
  CAST(blobs.distinct_layers AS BIGINT) AS distinct_layers,
  CAST(contents.distinct_diff_ids AS BIGINT) AS distinct_diff_ids,
  CAST(flat.flat_compressed_bytes AS BIGINT) AS flat_compressed_bytes,
  CAST(blobs.unique_compressed_bytes AS BIGINT) AS unique_compressed_bytes,
  CAST(flat.flat_compressed_bytes - blobs.unique_compressed_bytes AS BIGINT) AS layering_savings_compressed_bytes,
  CASE WHEN flat.flat_compressed_bytes = 0 THEN 0.0
       ELSE 100.0 * (flat.flat_compressed_bytes - blobs.unique_compressed_bytes) / flat.flat_compressed_bytes END
    AS layering_savings_compressed_percent,
  CAST(flat.flat_uncompressed_bytes AS BIGINT) AS flat_uncompressed_bytes,
  CAST(contents.unique_uncompressed_bytes AS BIGINT) AS unique_uncompressed_bytes,
  CAST(flat.flat_uncompressed_bytes - contents.unique_uncompressed_bytes AS BIGINT) AS layering_savings_uncompressed_bytes,
  CASE WHEN flat.flat_uncompressed_bytes = 0 THEN 0.0
       ELSE 100.0 * (flat.flat_uncompressed_bytes - contents.unique_uncompressed_bytes) / flat.flat_uncompressed_bytes END
    AS layering_savings_uncompressed_percent,
  CAST(blobs.shared_layers AS BIGINT) AS shared_layers,
  CAST(blobs.shared_layer_saved_bytes AS BIGINT) AS shared_layer_saved_bytes,
  CAST(fc.file_count AS BIGINT) AS file_count,
  CAST(fc.file_content_bytes AS BIGINT) AS file_content_bytes,
  CAST(fc.file_unique_content_bytes AS BIGINT) AS file_unique_content_bytes,
  CAST(fc.file_duplicate_bytes AS BIGINT) AS file_duplicate_bytes,
  CAST(fl.file_duplicate_within_layer_bytes AS BIGINT) AS file_duplicate_within_layer_bytes,
  CAST(fc.file_duplicate_across_layers_bytes AS BIGINT) AS file_duplicate_across_layers_bytes,
  CAST(img.hidden_bytes AS BIGINT) AS hidden_bytes
FROM img, flat, blobs, contents, fc, fl;

-- Shared bases (DESIGN.md §3): the layer sequences as a prefix tree over images. A node (a prefix of
-- layers) that >= 2 images start with is a shared base; reported are the branch points: the longest
-- prefixes where the set of images sharing them changes (no one-layer-longer prefix is shared by all of them).
CREATE OR REPLACE VIEW image_prefixes AS
SELECT il.image_id, il.position + 1 AS depth,
       list(il.digest) OVER w AS prefix,
       sum(l.size) OVER w AS prefix_bytes
FROM image_layers il
JOIN layers l ON l.digest = il.digest
WINDOW w AS (PARTITION BY il.image_id ORDER BY il.position ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW);

CREATE OR REPLACE VIEW prefix_nodes AS
SELECT md5(array_to_string(prefix, ',')) AS node, depth, any_value(prefix) AS prefix,
       any_value(prefix_bytes) AS prefix_bytes,
       count(DISTINCT image_id) AS images,
       list(DISTINCT image_id ORDER BY image_id) AS image_ids,
       md5(array_to_string(any_value(prefix)[1:depth - 1], ',')) AS parent
FROM image_prefixes
GROUP BY md5(array_to_string(prefix, ',')), depth;

CREATE OR REPLACE VIEW shared_bases AS
SELECT n.depth AS layers,
       n.prefix[n.depth] AS top_layer,
       CAST(n.prefix_bytes AS BIGINT) AS base_bytes,
       n.images,
       CAST(n.prefix_bytes * (n.images - 1) AS BIGINT) AS saved_bytes,
       n.image_ids,
       n.prefix AS layer_digests
FROM prefix_nodes n
WHERE n.images >= 2
  AND NOT EXISTS (SELECT 1 FROM prefix_nodes c WHERE c.parent = n.node AND c.depth = n.depth + 1 AND c.images = n.images);

-- History: one row per finished run with its totals over the images it saw, oldest first.
CREATE OR REPLACE VIEW trend AS
SELECT run_id, started_at, finished_at, status, run_images AS images, images_failed,
       stored_bytes, flat_bytes, file_unique_content_bytes, file_duplicate_bytes,
       layers_new, layers_gone, layers_read, layers_skipped, bytes_read, errors
FROM scan_runs
WHERE finished_at IS NOT NULL
ORDER BY run_id;

-- Per image: the file-level duplicates over its own distinct layer contents (the figure of §3 restricted to one image).
-- From image_file_stats while the derived tables are fresh; computed here for the images it does not hold.
CREATE OR REPLACE VIEW image_file_duplicates AS
WITH covered AS (SELECT s.image_id, s.file_duplicate_bytes FROM image_file_stats s
                 WHERE (SELECT fresh FROM derived_state) AND s.image_id IN (SELECT image_id FROM images)),
     todo AS (SELECT image_id FROM images WHERE image_id NOT IN (SELECT image_id FROM covered)),
     d AS (SELECT DISTINCT image_id, diff_id FROM image_layers WHERE image_id IN (SELECT image_id FROM todo)),
     c AS (SELECT d.image_id, f.xxh128, f.size, count(*) AS n
           FROM d JOIN content_files f ON f.diff_id = d.diff_id
           GROUP BY d.image_id, f.xxh128, f.size)
SELECT image_id, file_duplicate_bytes FROM covered
UNION ALL
SELECT t.image_id, CAST(coalesce(sum(c.size * (c.n - 1)), 0) AS BIGINT) AS file_duplicate_bytes
FROM todo t LEFT JOIN c ON c.image_id = t.image_id
GROUP BY t.image_id;

-- What the gate (layerstats check) evaluates per image.
CREATE OR REPLACE VIEW gate_images AS
SELECT s.image_id, s.names, s.platform, s.efficiency, s.wasted_bytes, s.user_wasted_percent, s.hidden_bytes,
       d.file_duplicate_bytes
FROM image_summary s JOIN image_file_duplicates d ON d.image_id = s.image_id;
