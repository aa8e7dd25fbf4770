using System.Formats.Tar;
using System.Text.Json;
using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Analysis;

/// <summary>
/// Reads dive's own test image (a legacy docker-save tar) into analysis entries, independently of the project's
/// sources: manifest.json gives the layer order, each <c>&lt;id&gt;/layer.tar</c> is read with TarReader.
/// </summary>
internal static class DiveTestImage
{
    public static string Path => TestPaths.DiveImage;

    private static readonly Lazy<IReadOnlyList<IReadOnlyList<AnalysisEntry>>> s_layers = new(Load);

    public static IReadOnlyList<IReadOnlyList<AnalysisEntry>> Layers => s_layers.Value;

    private static IReadOnlyList<IReadOnlyList<AnalysisEntry>> Load()
    {
        var layerTars = new Dictionary<string, List<AnalysisEntry>>(StringComparer.Ordinal);
        string[]? order = null;
        using (var file = File.OpenRead(Path))
        using (var outer = new TarReader(file))
        {
            while (outer.GetNextEntry() is { } entry)
            {
                if (entry.Name == "manifest.json")
                {
                    using var doc = JsonDocument.Parse(entry.DataStream!);
                    order = doc.RootElement[0].GetProperty(nameof(Layers)).EnumerateArray().Select(e => e.GetString()!).ToArray();
                }
                else if (entry.Name.EndsWith("/layer.tar", StringComparison.Ordinal))
                {
                    layerTars[entry.Name] = ReadLayer(entry.DataStream!);
                }
            }
        }
        Assert.NotNull(order);
        return order.Select(name => (IReadOnlyList<AnalysisEntry>)layerTars[name]).ToArray();
    }

    private static List<AnalysisEntry> ReadLayer(Stream stream)
    {
        var result = new List<AnalysisEntry>();
        using var reader = new TarReader(stream, leaveOpen: true);
        while (reader.GetNextEntry() is { } entry)
        {
            var path = Normalise(entry.Name);
            var baseName = path[(path.LastIndexOf('/') + 1)..];
            var kind = entry.EntryType switch
            {
                TarEntryType.Directory => EntryKind.Dir,
                TarEntryType.SymbolicLink => EntryKind.Symlink,
                TarEntryType.HardLink => EntryKind.Hardlink,
                TarEntryType.CharacterDevice => EntryKind.CharDevice,
                TarEntryType.BlockDevice => EntryKind.BlockDevice,
                TarEntryType.Fifo => EntryKind.Fifo,
                TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile =>
                    baseName == ".wh..wh..opq" ? EntryKind.OpaqueWhiteout
                    : baseName.StartsWith(".wh.", StringComparison.Ordinal) ? EntryKind.Whiteout
                    : EntryKind.File,
                _ => throw new InvalidDataException($"unexpected entry type {entry.EntryType} for {entry.Name}"),
            };
            result.Add(new AnalysisEntry(path, kind, kind == EntryKind.File ? entry.Length : 0));
        }
        return result;
    }

    private static string Normalise(string name)
    {
        while (name.StartsWith("./", StringComparison.Ordinal))
        {
            name = name[2..];
        }
        return name.Trim('/');
    }
}
