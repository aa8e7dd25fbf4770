// Placeholder until the reader branch lands (wip/reader owns Layers/). Plain System.Formats.Tar, no sparse.
using System.Buffers;
using System.Formats.Tar;
using System.IO.Compression;
using System.IO.Hashing;
using System.Security.Cryptography;
using LayerStats.Core.Model;

namespace LayerStats.Core.Layers;

public sealed record LayerReadResult(Digest Digest, long CompressedSize, Compression Compression, Digest DiffId, long UncompressedSize, int EntryCount);

public interface IFileEntrySink
{
    ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct);
}

public sealed class LayerFormatException(string message, string? entryPath = null, Exception? inner = null) : Exception(message, inner)
{
    public string? EntryPath { get; } = entryPath;
}

public static class LayerReader
{
    public static async Task<LayerReadResult> ReadAsync(Stream blob, FileHashing hashing, IFileEntrySink? sink, CancellationToken ct)
    {
        using var outer = new HashStream(blob);
        var head = new byte[4];
        int n = 0;
        while (n < 4)
        {
            int r = await outer.ReadAsync(head.AsMemory(n), ct);
            if (r == 0) break;
            n += r;
        }

        var prefixed = new PrefixStream(head.AsMemory(0, n), outer);
        Compression compression = n >= 2 && head[0] == 0x1f && head[1] == 0x8b ? Compression.Gzip
            : n >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd ? Compression.Zstd
            : Compression.None;
        Stream decompressed = compression switch
        {
            Compression.Gzip => new GZipStream(prefixed, CompressionMode.Decompress),
            Compression.Zstd => new ZstdSharp.DecompressionStream(prefixed),
            _ => prefixed,
        };
        using var inner = new HashStream(decompressed);
        int count = 0;
        var batch = new List<FileEntry>();
        if (sink is not null)
        {
            using var tar = new TarReader(inner, leaveOpen: true);
            TarEntry? entry;
            var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
            while ((entry = await tar.GetNextEntryAsync(false, ct)) is not null)
            {
                string path = entry.Name;
                while (path.StartsWith("./", StringComparison.Ordinal)) path = path[2..];
                path = path.TrimStart('/').TrimEnd('/');
                if (path.Length == 0 || path == ".") continue;
                string name = path[(path.LastIndexOf('/') + 1)..];
                EntryKind kind = entry.EntryType switch
                {
                    TarEntryType.Directory => EntryKind.Dir,
                    TarEntryType.SymbolicLink => EntryKind.Symlink,
                    TarEntryType.HardLink => EntryKind.Hardlink,
                    TarEntryType.CharacterDevice => EntryKind.CharDevice,
                    TarEntryType.BlockDevice => EntryKind.BlockDevice,
                    TarEntryType.Fifo => EntryKind.Fifo,
                    _ => EntryKind.File,
                };
                if (name == ".wh..wh..opq") kind = EntryKind.OpaqueWhiteout;
                else if (name.StartsWith(".wh.", StringComparison.Ordinal)) kind = EntryKind.Whiteout;
                UInt128? xxh = null;
                byte[]? sha = null;
                long size = 0;
                if (kind == EntryKind.File)
                {
                    var x = new XxHash128();
                    using var s = hashing == FileHashing.Xxh128AndSha256 ? IncrementalHash.CreateHash(HashAlgorithmName.SHA256) : null;
                    if (entry.DataStream is { } data)
                    {
                        int r;
                        while ((r = await data.ReadAsync(buffer, ct)) > 0)
                        {
                            x.Append(buffer.AsSpan(0, r));
                            s?.AppendData(buffer, 0, r);
                            size += r;
                        }
                    }

                    xxh = x.GetCurrentHashAsUInt128();
                    sha = s?.GetHashAndReset();
                }

                string? link = kind is EntryKind.Symlink or EntryKind.Hardlink ? entry.LinkName : null;
                batch.Add(new FileEntry(count++, path, kind, size, (int)entry.Mode, entry.Uid, entry.Gid, entry.ModificationTime, link, xxh, sha));
                if (batch.Count >= 1024)
                {
                    await sink.WriteAsync(batch.ToArray(), ct);
                    batch.Clear();
                }
            }

            ArrayPool<byte>.Shared.Return(buffer);
            if (batch.Count > 0) await sink.WriteAsync(batch.ToArray(), ct);
        }

        await inner.CopyToAsync(Stream.Null, ct);
        await outer.CopyToAsync(Stream.Null, ct);
        return new LayerReadResult(outer.Digest(), outer.Length, compression, inner.Digest(), inner.Length, count);
    }

    private sealed class PrefixStream(ReadOnlyMemory<byte> prefix, Stream rest) : Stream
    {
        private ReadOnlyMemory<byte> _prefix = prefix;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            if (_prefix.Length > 0)
            {
                int n = Math.Min(buffer.Length, _prefix.Length);
                _prefix.Span[..n].CopyTo(buffer);
                _prefix = _prefix[n..];
                return n;
            }

            return rest.Read(buffer);
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class HashStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Total { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => Total;
        public override long Position { get => Total; set => throw new NotSupportedException(); }
        public Digest Digest() => Model.Digest.Sha256(_hash.GetHashAndReset());
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            _hash.AppendData(buffer[..n]);
            Total += n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = await inner.ReadAsync(buffer, cancellationToken);
            _hash.AppendData(buffer.Span[..n]);
            Total += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) { _hash.Dispose(); inner.Dispose(); }
            base.Dispose(disposing);
        }
    }
}
