-- LayerStats database schema, version 2 (version 1 stored image_refs.repository as each source wrote it).
-- Every report (console, CSV, HTML) and every ad-hoc query reads these tables through the views in views.sql.
-- Digests are text 'sha256:<64 hex>'. Sizes are bytes (BIGINT). Times are UTC.

CREATE TABLE IF NOT EXISTS schema_info (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- One row per `layerstats scan` (or `run`).
CREATE TABLE IF NOT EXISTS scan_runs (
    run_id         INTEGER PRIMARY KEY,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ,            -- NULL while running, or when the run was killed
    status         VARCHAR NOT NULL,       -- running | ok | failed (some input failed) | cancelled
    tool_version   VARCHAR NOT NULL,
    file_hashing   VARCHAR NOT NULL,       -- xxh128 | xxh128+sha256
    inputs         INTEGER NOT NULL,
    images_ok      INTEGER,                -- images committed (new or seen again) by this run
    images_failed  INTEGER,
    layers_read    INTEGER,                -- blobs streamed by this run
    layers_skipped INTEGER,                -- blobs already in the database, not read again
    bytes_read     BIGINT,                 -- compressed bytes streamed
    errors         INTEGER,
    -- Totals over the images this run saw (run_images), snapshot when it finished:
    run_images                    INTEGER,
    stored_bytes                  BIGINT,  -- Σ distinct blob sizes (what a registry stores)
    flat_bytes                    BIGINT,  -- Σ over images of their blob sizes
    file_unique_content_bytes     BIGINT,
    file_duplicate_bytes          BIGINT,
    layers_new                    INTEGER, -- blobs this run's images use that the previous run's did not
    layers_gone                   INTEGER  -- blobs the previous run's images used that this run's do not
);

-- Which images each run saw (committed or found unchanged): the base of the trend report.
CREATE TABLE IF NOT EXISTS run_images (
    run_id   INTEGER NOT NULL,
    image_id VARCHAR NOT NULL,
    PRIMARY KEY (run_id, image_id)
);

-- One row per distinct uncompressed layer content (diff_id) whose tar entries are stored in `files`.
CREATE TABLE IF NOT EXISTS layer_contents (
    diff_id           VARCHAR PRIMARY KEY,
    uncompressed_size BIGINT NOT NULL,      -- length of the tar stream
    entries           INTEGER NOT NULL,     -- rows in `files`
    file_hashing      VARCHAR NOT NULL,     -- xxh128 | xxh128+sha256
    run_id            INTEGER NOT NULL,
    content_id        BIGINT                -- the files rows' content_id (NULL for contents stored before it existed)
);

-- One row per layer blob (what a registry stores), verified: digest = sha256 of its bytes, diff_id = sha256 of its tar stream.
CREATE TABLE IF NOT EXISTS layers (
    digest            VARCHAR PRIMARY KEY,
    size              BIGINT NOT NULL,      -- compressed bytes (the blob)
    media_type        VARCHAR NOT NULL,
    compression       VARCHAR,              -- none | gzip | zstd (by magic bytes); NULL when not read (foreign)
    diff_id           VARCHAR NOT NULL,
    uncompressed_size BIGINT,               -- NULL for a foreign / non-distributable layer whose blob was not available
    is_foreign        BOOLEAN NOT NULL,
    run_id            INTEGER NOT NULL
);

-- One row per image = one platform manifest (DESIGN.md §2).
CREATE TABLE IF NOT EXISTS images (
    image_id                 VARCHAR PRIMARY KEY,  -- manifest digest; config digest for a legacy docker-save entry
    manifest_digest          VARCHAR,              -- NULL for a legacy docker-save entry
    manifest_media_type      VARCHAR NOT NULL,
    config_digest            VARCHAR NOT NULL,
    os                       VARCHAR NOT NULL,
    architecture             VARCHAR NOT NULL,
    variant                  VARCHAR,
    created                  TIMESTAMPTZ,
    layer_count              INTEGER NOT NULL,
    compressed_bytes         BIGINT NOT NULL,      -- Σ blob sizes of its layers
    uncompressed_bytes       BIGINT NOT NULL,      -- Σ tar-stream lengths of its layers
    hidden_bytes             BIGINT NOT NULL,      -- DESIGN.md §3 hidden bytes
    hidden_files             BIGINT NOT NULL,
    dive_efficiency          DOUBLE NOT NULL,      -- dive's efficiency
    dive_wasted_bytes        BIGINT NOT NULL,      -- dive's wastedBytes
    dive_user_wasted_percent DOUBLE,               -- dive's wastedUserPercent (a ratio, as dive computes it); NULL when the user layers hold nothing
    dive_size_bytes          BIGINT NOT NULL,
    dive_user_size_bytes     BIGINT NOT NULL,
    first_run_id             INTEGER NOT NULL,
    last_run_id              INTEGER NOT NULL
);

-- Image config blobs, as read and verified (digest = sha256 of content): labels, env, history for reports and
-- ad-hoc SQL (json_extract(content::VARCHAR, ...)); and a registry rescan need not fetch them again.
CREATE TABLE IF NOT EXISTS configs (
    digest  VARCHAR PRIMARY KEY,
    content BLOB NOT NULL
);

-- The layers of each image, bottom (0) to top.
CREATE TABLE IF NOT EXISTS image_layers (
    image_id   VARCHAR NOT NULL,
    position   INTEGER NOT NULL,
    digest     VARCHAR NOT NULL,
    diff_id    VARCHAR NOT NULL,
    created_by VARCHAR,                -- from the config's history, where it says
    PRIMARY KEY (image_id, position)
);

-- How each image was reached: the input as given, and the repository/tag that named it there.
CREATE TABLE IF NOT EXISTS image_refs (
    image_id     VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,
    repository   VARCHAR NOT NULL,     -- canonical ('docker.io/library/web', not 'web'); '' when the source names none
    tag          VARCHAR NOT NULL,     -- '' when the source names none
    index_digest VARCHAR,              -- the index that led to this platform manifest, if any
    first_run_id INTEGER NOT NULL,
    last_run_id  INTEGER NOT NULL,
    PRIMARY KEY (image_id, source, repository, tag)
);

-- One row per tar entry of each stored layer content, in archive order.
CREATE TABLE IF NOT EXISTS files (
    diff_id     VARCHAR NOT NULL,
    seq         INTEGER NOT NULL,      -- position of the entry in the tar
    path        VARCHAR NOT NULL,      -- normalised: no leading './' or '/'; whiteouts keep their '.wh.' name
    kind        VARCHAR NOT NULL,      -- file | dir | symlink | hardlink | char | block | fifo | whiteout | opaque
    size        BIGINT NOT NULL,       -- regular files: logical size; others 0
    mode        INTEGER NOT NULL,
    uid         BIGINT NOT NULL,
    gid         BIGINT NOT NULL,
    mtime       TIMESTAMPTZ,
    link_target VARCHAR,
    xxh128      UHUGEINT,              -- regular files: XxHash128 of the content
    sha256      BLOB,                  -- regular files, with --file-hash sha256
    -- A number per stored layer content, rising in the order contents are loaded, so that the rows of one content sit
    -- in a narrow range of row groups and `WHERE content_id = ?` reads only those (DuckDB's min/max zone maps; a
    -- diff_id string cannot do that: every row group holds diff_ids from 'sha256:0' to 'sha256:f'). The per-image
    -- analysis reads a layer's rows this way; at 50 M rows a look-up by diff_id scans the whole table.
    content_id  BIGINT
);

-- Databases written before content_id existed gain the columns (NULL for what they hold).
ALTER TABLE layer_contents ADD COLUMN IF NOT EXISTS content_id BIGINT;
ALTER TABLE files ADD COLUMN IF NOT EXISTS content_id BIGINT;

-- Layer contents being loaded in chunks: a layer of more than ~120k entries commits its `files` rows a chunk at a time,
-- before its `layer_contents` row, which is committed with the last chunk in one transaction that deletes this row.
-- While a row is here, the `files` rows of its diff_id are incomplete and in no view (views read only stored layer
-- contents); a load that fails deletes them at once, and a scan killed meanwhile leaves them until the next scan opens
-- the database, which deletes them (and this row) before anything else. At most one row per diff_id.
CREATE TABLE IF NOT EXISTS layer_loads (
    diff_id           VARCHAR NOT NULL,
    run_id            INTEGER NOT NULL,     -- the scan loading it
    started_at        TIMESTAMPTZ NOT NULL, -- when the first chunk was committed
    entries_committed BIGINT NOT NULL       -- rows of it in `files` so far
);

-- What went wrong: the input as given, and the image, layer and path where known.
CREATE TABLE IF NOT EXISTS scan_errors (
    run_id      INTEGER NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    source      VARCHAR NOT NULL,
    image       VARCHAR,
    layer       VARCHAR,
    path        VARCHAR,
    message     VARCHAR NOT NULL
);

-- Derived tables: figures over the 50 million rows of `files` that no view could compute in seconds, written by the
-- writer at the end of every scan (run_snapshot.sql) from the rows above and nothing else. They cover the layer
-- contents listed in `derived_contents`; the views read them only while those are exactly the stored layer contents
-- that images reference (with the same run_id), and otherwise compute the same figures from `files` (slowly: after
-- a killed scan, until the next scan finishes). Never the interface: read the views.
CREATE TABLE IF NOT EXISTS derived_contents (
    diff_id        VARCHAR NOT NULL,
    content_run_id INTEGER NOT NULL        -- layer_contents.run_id when it was added (a replaced content has another)
);

-- One row per distinct regular-file content (xxh128, size) over the covered layer contents: the view content_stats
-- (views.sql) = the rows of content_stats_base that content_stats_delta does not replace, and content_stats_delta. A
-- scan that adds a few layer contents to a fleet's store writes its changed and new contents' rows into the small
-- delta table (rewritten whole, cheap), not the base table (tens of millions of rows); when the delta grows past a
-- share of the base, the two are written together into a new base (run_snapshot.sql, section merge). A delta row names
-- the base row it replaces by its rowid, so that reading the view costs no join on the base's 128-bit hashes; the
-- base is never updated or deleted from (only replaced whole), so its rowids stay.
-- No NOT NULL constraints: the end-of-run step writes these tables anew as copies of this one's columns
-- (run_snapshot.sql, CREATE TABLE … AS FROM content_stats_base LIMIT 0), which constraints would not survive.
CREATE TABLE IF NOT EXISTS content_stats_base (
    xxh128        UHUGEINT,
    size          BIGINT,
    occurrences   BIGINT,                  -- regular files with this content
    layers        BIGINT,                  -- distinct diff_ids holding it
    first_path    VARCHAR,                 -- its first path in path order (the occurrence file-level dedup keeps)
    example_paths VARCHAR[],               -- its first 5 distinct paths in path order; NULL when it occurs once
    first_directory VARCHAR,               -- ls_directory(first_path) (views.sql)
    first_extension VARCHAR,               -- ls_extension(first_path)
    replaces      BIGINT                   -- in content_stats_delta: the rowid of the content's row in this table, NULL
                                           -- for a new content; NULL here
);

-- One row per (xxh128, size): the columns of content_stats_base.
CREATE TABLE IF NOT EXISTS content_stats_delta AS FROM content_stats_base LIMIT 0;

-- One row per covered layer content that holds regular files.
CREATE TABLE IF NOT EXISTS layer_file_stats (
    diff_id                      VARCHAR NOT NULL,
    files                        BIGINT NOT NULL,  -- regular files (hardlinks excluded)
    bytes                        BIGINT NOT NULL,  -- Σ their sizes
    within_layer_duplicate_bytes BIGINT NOT NULL   -- Σ size × (occurrences in this layer − 1) over its contents
);

-- Per image: its file_duplicate_bytes (views.sql image_file_duplicates), for the images that were committed when
-- the derived tables were last brought up to date.
CREATE TABLE IF NOT EXISTS image_file_stats (
    image_id             VARCHAR NOT NULL,
    file_duplicate_bytes BIGINT NOT NULL
);

-- The regular files of each covered layer content by ls_directory and ls_extension of their paths.
CREATE TABLE IF NOT EXISTS layer_path_stats (
    diff_id   VARCHAR NOT NULL,
    directory VARCHAR NOT NULL,
    extension VARCHAR NOT NULL,
    files     BIGINT NOT NULL,
    bytes     BIGINT NOT NULL
);
