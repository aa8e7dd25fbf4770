using System.Globalization;
using System.Numerics;
using DuckDB.NET.Data;
using LayerStats.Core.Layers;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

/// <summary>
/// FileRowAppender writes DuckDB data chunks itself, where a value of the wrong width or a wrong string_t would corrupt
/// rows silently: every column is read back with SQL (as text, epoch microseconds and hex, so nothing is converted on the
/// way back) and compared with the values put in, computed here another way, and with what DuckDB.NET's appender stores.
/// </summary>
public sealed class FileRowAppenderTests
{
    private const string DiffId = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// <summary>Every column as exact text; content_id too.</summary>
    private const string ExactRows =
        "SELECT diff_id, seq, path, kind, size, mode, uid, gid, epoch_us(mtime), link_target, xxh128::VARCHAR, hex(sha256), content_id, " +
        "mtime IS NULL, link_target IS NULL, xxh128 IS NULL, sha256 IS NULL FROM files ORDER BY diff_id, seq";

    [Fact]
    public void Every_column_reads_back_as_put_in_across_several_chunks_with_extreme_values_and_nulls()
    {
        using var dir = new TempDir();
        var entries = Entries(5000);
        const long contentId = long.MaxValue - 1;
        using (var db = LayerStatsDatabase.Open(dir.File("t.duckdb")))
        {
            Append(db, entries, contentId, duckDbNet: false);
            var rows = db.Connection.Rows(ExactRows);
            Assert.Equal(entries.Length, rows.Count);
            for (int i = 0; i < entries.Length; i++)
            {
                var e = entries[i];
                var r = rows[i];
                string at = $"row {i}";
                Assert.True(DiffId == (string)r[0]!, at);
                Assert.True(e.Seq == (int)r[1]!, at);
                Assert.True(e.Path == (string)r[2]!, at + ": path");
                Assert.True(EntryKinds.ToName(e.Kind) == (string)r[3]!, at);
                Assert.True(e.Size == (long)r[4]!, at);
                Assert.True(e.Mode == (int)r[5]!, at);
                Assert.True(e.Uid == (long)r[6]!, at);
                Assert.True(e.Gid == (long)r[7]!, at);
                Assert.True(FloorMicros(e.ModificationTime) == (long)r[8]!, $"{at}: mtime {e.ModificationTime:o} stored {r[8]}");
                Assert.True(e.LinkTarget == (string?)r[9], at + ": link");
                Assert.True((e.Xxh128 is { } h ? ((BigInteger)h).ToString(CultureInfo.InvariantCulture) : null) == (string?)r[10], $"{at}: xxh128 {e.Xxh128} stored {r[10]}");
                Assert.True((e.Sha256 is { } s ? Convert.ToHexString(s) : null) == (string?)r[11], at + ": sha256");
                Assert.True(contentId == (long)r[12]!, at);
                Assert.Equal([false, e.LinkTarget is null, e.Xxh128 is null, e.Sha256 is null], r.Skip(13).Select(v => (bool)v!));
            }

            // Each stored string equals a fresh copy of itself made by DuckDB (comparisons read a string_t's length, prefix and
            // inlined bytes; DuckDB's appender rebuilds those when it copies a chunk, so this guards what it stores).
            Assert.Equal(0L, Convert.ToInt64(db.Connection.Rows(
                "SELECT count(*) FROM files WHERE diff_id <> diff_id || '' OR path <> path || '' OR kind <> kind || '' " +
                "OR link_target IS DISTINCT FROM link_target || '' OR sha256 IS DISTINCT FROM sha256 || ''::BLOB")[0][0], CultureInfo.InvariantCulture));
        }
    }

    [Fact]
    public void Rows_of_long_strings_fill_the_string_heap_before_a_chunk_is_full_and_read_back_exactly()
    {
        using var dir = new TempDir();
        // 2-4 KB of text a row (a third of it 2-byte UTF-8): ~1 MiB of string heap every ~300 rows, far before 2,048.
        var random = new Random(3);
        var entries = Enumerable.Range(0, 3000)
            .Select(i => new FileEntry(i, string.Concat(Enumerable.Repeat($"d{i}/\u00e9t\u00e9/", 150 + random.Next(150))), EntryKind.Symlink, 0, 0x1FF, 0, 0,
                DateTimeOffset.UnixEpoch, new string((char)('a' + (i % 26)), 13 + random.Next(2000)), null, null))
            .ToArray();
        using var db = LayerStatsDatabase.Open(dir.File("t.duckdb"));
        Append(db, entries, 1, duckDbNet: false);
        var rows = db.Connection.Rows("SELECT seq, path, link_target FROM files ORDER BY seq");
        Assert.Equal(entries.Length, rows.Count);
        for (int i = 0; i < entries.Length; i++)
        {
            Assert.True(entries[i].Path == (string)rows[i][1]! && entries[i].LinkTarget == (string)rows[i][2]!, $"row {i}");
        }
    }

    [Fact]
    public void The_rows_equal_those_duckdb_nets_appender_stores_column_for_column()
    {
        using var dir = new TempDir();
        var entries = Entries(5000);
        List<string> expected, actual;
        using (var db = LayerStatsDatabase.Open(dir.File("old.duckdb")))
        {
            Append(db, entries, 7, duckDbNet: true);
            expected = Text(db.Connection.Rows(ExactRows));
        }

        using (var db = LayerStatsDatabase.Open(dir.File("new.duckdb")))
        {
            Append(db, entries, 7, duckDbNet: false);
            actual = Text(db.Connection.Rows(ExactRows));
        }

        Assert.Equal(entries.Length, actual.Count);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void A_scan_of_the_sample_images_stores_the_same_tables_through_either_appender()
    {
        using var dir = new TempDir();
        string[] inputs = Directory.GetFileSystemEntries(TestPaths.Repo("sample-data", "images")).Order(StringComparer.Ordinal).ToArray();
        Assert.True(inputs.Length >= 5);
        var old = Scan(dir.File("old.duckdb"), inputs, duckDbNet: true);
        var fresh = Scan(dir.File("new.duckdb"), inputs, duckDbNet: false);
        Assert.Empty(old.Errors);
        Assert.Empty(fresh.Errors);
        Assert.Equal(old.ImagesOk, fresh.ImagesOk);

        List<string> expected, actual;
        using (var db = LayerStatsDatabase.OpenReadOnly(dir.File("old.duckdb")))
        {
            expected = Text(db.Connection.Rows(ExactRows.Replace(", content_id,", ",", StringComparison.Ordinal)));
        }

        using (var db = LayerStatsDatabase.OpenReadOnly(dir.File("new.duckdb")))
        {
            actual = Text(db.Connection.Rows(ExactRows.Replace(", content_id,", ",", StringComparison.Ordinal)));
        }

        Assert.True(actual.Count > 100, $"only {actual.Count} rows");
        Assert.Equal(expected, actual);
        ChunkedLoadTests.AssertSameRows(dir.File("old.duckdb"), dir.File("new.duckdb"));
    }

    [Fact]
    public void A_files_table_of_other_column_types_is_refused_when_the_appender_is_created()
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using (var cmd = connection.CreateCommand())
        {
            // seq BIGINT instead of INTEGER: 8-byte slots where the appender writes 4.
            cmd.CommandText = "CREATE TABLE files (diff_id VARCHAR, seq BIGINT, path VARCHAR, kind VARCHAR, size BIGINT, mode INTEGER, uid BIGINT, " +
                "gid BIGINT, mtime TIMESTAMPTZ, link_target VARCHAR, xxh128 UHUGEINT, sha256 BLOB, content_id BIGINT)";
            cmd.ExecuteNonQuery();
        }

        var error = Assert.Throws<InvalidOperationException>(() => new FileRowAppender(connection, DiffId, 1));
        Assert.Contains("column 1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rows_not_closed_are_dropped()
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        using (var cmd = connection.CreateCommand())
        {
            cmd.CommandText = "CREATE TABLE files (diff_id VARCHAR, seq INTEGER, path VARCHAR, kind VARCHAR, size BIGINT, mode INTEGER, uid BIGINT, " +
                "gid BIGINT, mtime TIMESTAMPTZ, link_target VARCHAR, xxh128 UHUGEINT, sha256 BLOB, content_id BIGINT)";
            cmd.ExecuteNonQuery();
        }

        using (var appender = new FileRowAppender(connection, DiffId, 1))
        {
            appender.Append(Entries(3000)); // one chunk handed to DuckDB's appender, 952 rows held here
        }

        Assert.Equal(0L, Convert.ToInt64(connection.Rows("SELECT count(*) FROM files")[0][0], CultureInfo.InvariantCulture));
        using (var appender = new FileRowAppender(connection, DiffId, 1))
        {
            appender.Append(Entries(3000));
            appender.Close();
        }

        Assert.Equal(3000L, Convert.ToInt64(connection.Rows("SELECT count(*) FROM files")[0][0], CultureInfo.InvariantCulture));
    }

    /// <summary>Microseconds since the epoch, rounded down, by BigInteger arithmetic (DuckDB's duckdb_to_timestamp rounds down).</summary>
    private static long FloorMicros(DateTimeOffset t)
    {
        var ticks = (BigInteger)t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var micros = BigInteger.DivRem(ticks, 10, out var rest);
        return (long)(rest < 0 ? micros - 1 : micros);
    }

    /// <summary>
    /// <paramref name="count"/> rows: tar-walk-like rows (paths of 30-80 characters, files/dirs/symlinks), with extreme
    /// values placed at the start, around the chunk edge (2,047/2,048) and at the end.
    /// </summary>
    private static FileEntry[] Entries(int count)
    {
        var epoch = DateTimeOffset.UnixEpoch;
        byte[] sha = Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray();
        FileEntry[] special =
        [
            new(int.MaxValue, "", EntryKind.File, long.MaxValue, int.MaxValue, long.MaxValue, long.MinValue, DateTimeOffset.MinValue, null, UInt128.MaxValue, sha),
            new(1, "a", EntryKind.Dir, 0, int.MinValue, -1, -2, DateTimeOffset.MaxValue, "", UInt128.Zero, []),
            new(2, "abcdefghijkl", EntryKind.Symlink, long.MaxValue - 1, 0, 0, 0, epoch.AddTicks(-1), "abcdefghijklm", UInt128.One << 127, [1, 2, 3]),
            new(3, "abcdefghijklm", EntryKind.Hardlink, 1, 0x1FF, 65534, 65534, epoch.AddTicks(-15), "üüüüüü", (UInt128.One << 127) | 1, new byte[12]),
            new(4, "üüüüüü", EntryKind.CharDevice, 0, 0x1B6, 0, 0, epoch.AddMilliseconds(-500), "üüüüüüü", new UInt128(1, 0), new byte[13]),
            new(5, "üüüüüüü", EntryKind.BlockDevice, 0, 0, 0, 0, new DateTimeOffset(1901, 12, 13, 20, 45, 52, TimeSpan.Zero).AddTicks(1234567), null, ulong.MaxValue, null),
            new(6, "emoji 🐳 dir/\u4e2d\u6587/file\twith\nnewline", EntryKind.Fifo, 0, 0, 0, 0, new DateTimeOffset(2024, 2, 29, 23, 59, 58, TimeSpan.Zero).AddTicks(9_999_999), null, new UInt128(0x8000_0000_0000_0000UL, 0xFFFF_FFFF_FFFF_FFFFUL), null),
            new(7, "usr/lib/x86_64-linux-gnu/.wh.libfoo.so", EntryKind.Whiteout, 0, 0, 0, 0, epoch, null, null, null),
            new(8, "usr/share/.wh..wh..opq", EntryKind.OpaqueWhiteout, 0, 0, 0, 0, epoch.AddTicks(1), null, null, null),
            new(9, new string('p', 4000) + "/\u00e9", EntryKind.File, 4000, 0x1A4, 1000, 1000, epoch.AddTicks(5), new string('t', 300), 42, sha),
            // More than the appender's string heap takes for one string (goes to DuckDB's vector heap).
            new(10, new string('q', 100_000) + "/\u00fc", EntryKind.Symlink, 0, 0x1FF, 0, 0, epoch, new string('\u00fc', 90_000), null, null),
        ];
        var random = new Random(5);
        var entries = new FileEntry[count];
        for (int i = 0; i < count; i++)
        {
            string path = "usr/share/doc/" + new string((char)('a' + (i % 26)), 16 + random.Next(50)) + "/" + i.ToString(CultureInfo.InvariantCulture);
            var mtime = epoch.AddSeconds(1_700_000_000 + random.Next(1000)).AddTicks(random.Next(10_000_000));
            entries[i] = (i % 10) switch
            {
                < 7 => new FileEntry(i, path, EntryKind.File, random.NextInt64(1, 1L << 40), 0x1A4, 0, 0, mtime, null,
                    new UInt128((ulong)random.NextInt64(), (ulong)random.NextInt64()), i % 3 == 0 ? sha : null),
                < 9 => new FileEntry(i, path, EntryKind.Dir, 0, 0x1ED, 0, 0, mtime, null, null, null),
                _ => new FileEntry(i, path, EntryKind.Symlink, 0, 0x1FF, 0, 0, mtime, "../lib/" + path[..Math.Min(path.Length, 20 + (i % 30))], null, null),
            };
        }

        foreach (int start in new[] { 0, 2043, count - special.Length })
        {
            for (int k = 0; k < special.Length; k++)
            {
                entries[start + k] = special[k] with { Seq = start + k };
            }
        }

        entries[^1] = entries[^1] with { Seq = int.MaxValue }; // still the last in seq order

        return entries;
    }

    /// <summary>Appends in batches of 4,096 (as the pipeline does) in one transaction, through either path.</summary>
    private static void Append(LayerStatsDatabase db, FileEntry[] entries, long contentId, bool duckDbNet)
    {
        using var tx = db.Connection.BeginTransaction();
        if (duckDbNet)
        {
            using var appender = db.Connection.CreateAppender("files");
            for (int i = 0; i < entries.Length; i += 4096)
            {
                FileRowAppender.AppendWithDuckDbNet(appender, DiffId, contentId, entries.AsSpan(i, Math.Min(4096, entries.Length - i)));
            }

            appender.Close();
        }
        else
        {
            using var appender = new FileRowAppender(db.Connection, DiffId, contentId);
            for (int i = 0; i < entries.Length; i += 4096)
            {
                appender.Append(entries.AsSpan(i, Math.Min(4096, entries.Length - i)));
            }

            appender.Close();
        }

        tx.Commit();
    }

    private static ScanSummary Scan(string database, IReadOnlyList<string> inputs, bool duckDbNet) =>
        StoreScan.Run(database, inputs, db => new DuckDbScanStore(db) { DuckDbNetAppender = duckDbNet }, _ => 0, FileHashing.Xxh128AndSha256).Summary;

    private static List<string> Text(List<object?[]> rows) =>
        rows.Select(r => string.Join("|", r.Select(v => v is null ? "<null>" : Convert.ToString(v, CultureInfo.InvariantCulture)))).ToList();
}

internal static class ConnectionRows
{
    public static List<object?[]> Rows(this DuckDBConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            var row = new object?[reader.FieldCount];
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }
}
