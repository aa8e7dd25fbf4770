using System.Text.Json;
using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>A docker save tarball or an OCI layout (directory or tar), gzipped or not, recognised by content.</summary>
internal sealed class FileImageSource(SourceInput input, ImageSourceOptions options) : IImageSource
{
    private readonly Lock _lock = new();
    private readonly List<BlobContainer> _containers = [];
    private bool _disposed;

    public string Source => input.Input;

    /// <summary>The container the last listing read (null before one), for tests and benchmarks.</summary>
    internal BlobContainer? Container { get; private set; }

    public async Task<SourceListing> ListImagesAsync(CancellationToken cancellationToken)
    {
        BlobContainer container;
        try
        {
            var (opened, problem) = await OpenContainerAsync(cancellationToken).ConfigureAwait(false);
            if (opened is null)
            {
                return Fail(problem!);
            }

            container = opened;
            lock (_lock)
            {
                _containers.Add(container);
                Container = container;
                if (_disposed)
                {
                    container.Dispose();
                }
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException or ImageFormatException)
        {
            return Fail($"'{input.Path}' cannot be read as an image archive: {ex.Message}");
        }

        var context = new ReadContext(container, input.Input, options);
        List<FoundImage> found;
        try
        {
            found = await ReadLayoutAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ImageFormatException or InvalidDataException or IOException or JsonException)
        {
            context.Error(ex.Message, path: input.Path);
            return new SourceListing([], context.Errors);
        }

        var images = Resolve(found, context);
        // An input without the platform asked for is not an error: a fleet scan filters many inputs at once.
        return new SourceListing(images, context.Errors);
    }

    /// <summary>
    /// The end of the source: closes what its containers keep open between reads (a gzipped archive's cursors). A blob
    /// still open is not cut off; its cursor is closed when the blob is disposed.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        List<BlobContainer> closing;
        lock (_lock)
        {
            _disposed = true;
            closing = [.. _containers];
            _containers.Clear();
        }

        foreach (var container in closing)
        {
            container.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    private SourceListing Fail(string message) => new([], [new ScanError(input.Input, message, Path: input.Path)]);

    private async Task<(BlobContainer? Container, string? Problem)> OpenContainerAsync(CancellationToken cancellationToken)
    {
        string path = input.Path;
        if (Directory.Exists(path))
        {
            return (new DirectoryContainer(path), null);
        }

        if (!File.Exists(path))
        {
            return (null, input.Form == SourceForm.Auto
                ? $"not found: there is no file or directory '{path}'"
                : $"not found: there is no file or directory '{path}' (nor any shorter path before a ':' in '{input.Input}')");
        }

        var head = new byte[512];
        int got;
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        await using (fs.ConfigureAwait(false))
        {
            got = await fs.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        }

        if (got == 0)
        {
            return (null, $"'{path}' is an empty file, not an image archive");
        }

        if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        {
            try
            {
                return (await GzipTarContainer.IndexAsync(path, options.MaxDocumentBytes, cancellationToken).ConfigureAwait(false), null);
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException or OverflowException or ArgumentOutOfRangeException or NotSupportedException)
            {
                return (null, $"'{path}' is gzip-compressed but does not hold a readable tar archive: {ex.Message}");
            }
        }

        if (got >= 4 && head[0] == 0x28 && head[1] == 0xb5 && head[2] == 0x2f && head[3] == 0xfd)
        {
            return (null, $"'{path}' is zstd-compressed, which is not supported for archives: decompress it first (zstd -d)");
        }

        if (!IsTarHeader(head.AsSpan(0, got)))
        {
            return (null, $"'{path}' is not an image archive: it is neither a tar archive (docker save, OCI archive), a gzipped tar archive, nor a directory");
        }

        try
        {
            return (await SeekableTarContainer.IndexAsync(path, cancellationToken).ConfigureAwait(false), null);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException or OverflowException or ArgumentOutOfRangeException or NotSupportedException) // System.Formats.Tar: a base-256 number too large for its field or for a date; an entry type it does not read (GNU sparse)
        {
            return (null, $"'{path}' is not a readable tar archive: {ex.Message}");
        }
    }

    private async Task<List<FoundImage>> ReadLayoutAsync(ReadContext context, CancellationToken cancellationToken)
    {
        bool hasIndex = context.Container.Find("index.json") is not null;
        bool hasManifest = context.Container.Find("manifest.json") is not null;
        string where = $"'{input.Path}' ({context.Container.Kind})";
        switch (input.Form)
        {
            case SourceForm.DockerArchive when !hasManifest:
                throw new ImageFormatException($"docker-archive: expects a docker save archive, but {where} holds no manifest.json"
                    + (hasIndex ? "; it holds an OCI layout: use oci: or oci-archive:" : ""));
            case SourceForm.OciLayout or SourceForm.OciArchive when !hasIndex:
                throw new ImageFormatException($"{(input.Form == SourceForm.OciLayout ? "oci:" : "oci-archive:")} expects an OCI image layout, but {where} holds no index.json"
                    + (hasManifest ? "; it holds a docker save archive: use docker-archive:" : ""));
        }

        if (hasIndex)
        {
            var oci = await new OciLayoutReader(context, insideDockerSave: hasManifest).ReadAsync(cancellationToken).ConfigureAwait(false);
            return hasManifest ? await ApplyRepoTagsAsync(context, oci, cancellationToken).ConfigureAwait(false) : oci;
        }

        if (hasManifest)
        {
            return await new DockerSaveReader(context).ReadLegacyAsync(cancellationToken).ConfigureAwait(false);
        }

        throw new ImageFormatException($"{where} is not an image archive: it holds neither index.json (OCI layout) nor manifest.json (docker save)"
            + (context.Container.Truncation is { } truncation ? $"; {truncation}, so they may be in the part that is missing" : ""));
    }

    /// <summary>Docker 25+: the images come from the OCI index; their names from manifest.json's RepoTags where it has any.</summary>
    private static async Task<List<FoundImage>> ApplyRepoTagsAsync(ReadContext context, List<FoundImage> found, CancellationToken cancellationToken)
    {
        Dictionary<Digest, IReadOnlyList<ImageName>> tags;
        try
        {
            tags = await new DockerSaveReader(context).ReadRepoTagsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ImageFormatException or IOException or InvalidDataException)
        {
            context.Error($"{ex.Message} (names are taken from index.json instead)", path: "manifest.json");
            return found;
        }

        var result = new List<FoundImage>();
        var tagged = new HashSet<Digest>();
        foreach (var f in found)
        {
            if (!tags.TryGetValue(f.Image.ConfigDigest, out var names))
            {
                result.Add(f);
            }
            else if (tagged.Add(f.Image.Id))
            {
                result.Add(f with { Names = names });
            }
        }

        return result;
    }

    private List<ResolvedImage> Resolve(List<FoundImage> found, ReadContext context)
    {
        if (input.Reference is { } selector)
        {
            var all = found.SelectMany(f => f.Names).Select(n => n.ToString()).Distinct(StringComparer.Ordinal).ToList();
            found = found
                .Select(f => f with { Names = f.Names.Where(n => n.Matches(selector)).ToList() })
                .Where(f => f.Names.Count > 0)
                .ToList();
            if (found.Count == 0)
            {
                context.Error(
                    $"no image named '{selector}' in '{input.Path}' ({(all.Count == 0 ? "it holds no named images" : "it holds " + string.Join(", ", all))})",
                    path: input.Path);
            }
        }

        var result = new List<ResolvedImage>();
        var seen = new HashSet<(Digest Image, ImageReference Reference)>();
        foreach (var f in found)
        {
            IEnumerable<ImageName?> names = f.Names.Count == 0 ? new ImageName?[] { null } : f.Names.Cast<ImageName?>();
            foreach (var name in names)
            {
                var reference = new ImageReference(input.Input, name?.Repository, name?.Tag, f.IndexDigest);
                if (seen.Add((f.Image.Id, reference)))
                {
                    result.Add(new ResolvedImage(f.Image, reference));
                }
            }
        }

        return result;
    }

    /// <summary>A tar header: "ustar" magic at 257, or (V7) a header whose checksum adds up.</summary>
    private static bool IsTarHeader(ReadOnlySpan<byte> head)
    {
        if (head.Length < 512)
        {
            return false;
        }

        if (head.Slice(257, 5).SequenceEqual("ustar"u8))
        {
            return true;
        }

        long stated = 0;
        bool digits = false;
        foreach (byte b in head.Slice(148, 8))
        {
            if (b is >= (byte)'0' and <= (byte)'7')
            {
                stated = (stated * 8) + (b - '0');
                digits = true;
            }
            else if (digits)
            {
                break;
            }
        }

        long sum = 0;
        for (int i = 0; i < 512; i++)
        {
            sum += i is >= 148 and < 156 ? ' ' : head[i];
        }

        return digits && sum == stated;
    }
}
