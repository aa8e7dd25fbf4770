using System.Numerics;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Scanning;
using LayerStats.Storage;

namespace LayerStats.Tests.Storage;

public sealed class StoreRoundTripTests
{
    private static readonly Digest DiffId = Digest.Compute("content"u8);
    private static readonly Digest BlobDigest = Digest.Compute("blob"u8);

    [Fact]
    public void Appended_entries_read_back_exactly_with_extreme_values()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128AndSha256);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        var mtime = new DateTimeOffset(2024, 2, 29, 23, 59, 58, TimeSpan.Zero);
        byte[] sha = Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray();
        var entries = new[]
        {
            new FileEntry(0, "usr/bin/ü name\twith tab", EntryKind.File, long.MaxValue, 0b111_101_101, 4_000_000_000L, 0, mtime, null, UInt128.MaxValue, sha),
            new FileEntry(1, "etc", EntryKind.Dir, 0, 0x1ED, 0, 70000, DateTimeOffset.UnixEpoch, null, null, null),
            new FileEntry(2, "a/.wh..wh..opq", EntryKind.OpaqueWhiteout, 0, 0, 0, 0, mtime, null, null, null),
            new FileEntry(3, "lib/x", EntryKind.Hardlink, 0, 0x1A4, 0, 0, mtime, "usr/bin/ü name\twith tab", null, null),
            new FileEntry(4, "empty", EntryKind.File, 0, 0x1A4, 1, 2, mtime, null, new UInt128(1UL << 63, 7), sha),
        };

        using (var load = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128AndSha256))
        {
            load.Append(entries.AsSpan(0, 2));
            load.Append(entries.AsSpan(2));
            Assert.True(load.Commit(
                new LayerRecord(BlobDigest, 1234, MediaTypes.OciLayerGzip, Compression.Gzip, DiffId, 5678, false),
                new LayerContentRecord(DiffId, 5678, entries.Length, FileHashing.Xxh128AndSha256)));
        }

        var rows = ReportQueries.Run(db, "SELECT seq, path, kind, size, mode, uid, gid, mtime, link_target, xxh128, sha256 FROM files ORDER BY seq").Rows;
        Assert.Equal(entries.Length, rows.Count);
        for (int i = 0; i < entries.Length; i++)
        {
            var e = entries[i];
            var r = rows[i];
            Assert.Equal(e.Seq, Convert.ToInt32(r[0]));
            Assert.Equal(e.Path, r[1]);
            Assert.Equal(EntryKinds.ToName(e.Kind), r[2]);
            Assert.Equal(e.Size, r[3]);
            Assert.Equal(e.Mode, r[4]);
            Assert.Equal(e.Uid, r[5]);
            Assert.Equal(e.Gid, r[6]);
            Assert.Equal(e.ModificationTime, ToOffset(r[7]));
            Assert.Equal(e.LinkTarget, r[8]);
            Assert.Equal(e.Xxh128 is { } h ? (BigInteger?)h : null, r[9] is null ? null : (BigInteger)r[9]!);
            Assert.Equal(e.Sha256, (byte[]?)r[10]);
        }

        var layer = store.FindLayer(BlobDigest);
        Assert.Equal(new StoredLayer(BlobDigest, 1234, DiffId, 5678, false), layer);
        Assert.Equal(FileHashing.Xxh128AndSha256, store.FindContent(DiffId));
    }

    [Fact]
    public void An_aborted_load_leaves_no_rows_and_a_second_blob_of_the_same_content_keeps_the_first_entries()
    {
        using var dir = new TempDir();
        using var open = new OpenStore(dir.File("t.duckdb"), FileHashing.Xxh128);
        var (db, store, run) = (open.Database, open.Store, open.Run);
        var entry = new FileEntry(0, "f", EntryKind.File, 1, 0, 0, 0, DateTimeOffset.UnixEpoch, null, 5, null);
        using (var load = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        {
            load.Append([entry]);
            load.Abort();
        }

        Assert.Equal(0L, ReportQueries.Run(db, "SELECT count(*) FROM files").Rows[0][0]);
        Assert.Null(store.FindContent(DiffId));

        var other = Digest.Compute("other blob"u8);
        using (var first = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        using (var second = store.BeginLayerLoad(run, DiffId, FileHashing.Xxh128))
        {
            first.Append([entry]);
            second.Append([entry, entry with { Seq = 1 }]);
            Assert.True(first.Commit(new LayerRecord(BlobDigest, 10, MediaTypes.OciLayer, Compression.None, DiffId, 10, false), new LayerContentRecord(DiffId, 10, 1, FileHashing.Xxh128)));
            Assert.False(second.Commit(new LayerRecord(other, 8, MediaTypes.OciLayerGzip, Compression.Gzip, DiffId, 10, false), new LayerContentRecord(DiffId, 10, 2, FileHashing.Xxh128)));
        }

        Assert.Equal(1L, ReportQueries.Run(db, "SELECT count(*) FROM files").Rows[0][0]);
        Assert.Equal(2L, ReportQueries.Run(db, "SELECT count(*) FROM layers WHERE diff_id = '" + DiffId + "'").Rows[0][0]);
    }

    private static DateTimeOffset ToOffset(object? value) => value switch
    {
        DateTimeOffset o => o.ToUniversalTime(),
        DateTime d => new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)),
        _ => throw new InvalidCastException($"{value?.GetType()}"),
    };
}
