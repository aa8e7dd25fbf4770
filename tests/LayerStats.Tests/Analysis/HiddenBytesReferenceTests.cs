using LayerStats.Core.Analysis;
using LayerStats.Core.Layers;

namespace LayerStats.Tests.Analysis;

/// <summary>
/// Hidden bytes against a deliberately naive reference: for every regular file, compare it with every entry of every
/// later layer by string prefixes (DESIGN.md §3 rules a–d read literally). Seeded random images over a tiny name
/// space, so that paths collide often.
/// </summary>
public sealed class HiddenBytesReferenceTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Matches_a_naive_pairwise_reference_on_random_images(int seed)
    {
        var random = new Random(seed);
        for (var image = 0; image < 200; image++)
        {
            var layers = RandomImage(random);
            Assert.Equal(Reference(layers), ImageAnalysis.HiddenBytes(layers));
        }
    }

    private static IReadOnlyList<IReadOnlyList<AnalysisEntry>> RandomImage(Random random)
    {
        string[] names = ["a", "b", "ab"];
        var layerCount = random.Next(1, 5);
        var layers = new List<IReadOnlyList<AnalysisEntry>>();
        for (var l = 0; l < layerCount; l++)
        {
            if (l > 0 && random.Next(6) == 0)
            {
                layers.Add(layers[random.Next(l)]); // the same layer again
                continue;
            }
            var entries = new List<AnalysisEntry>();
            var count = random.Next(0, 8);
            for (var e = 0; e < count; e++)
            {
                var depth = random.Next(1, 4);
                var path = string.Join('/', Enumerable.Range(0, depth).Select(_ => names[random.Next(names.Length)]));
                var slash = path.LastIndexOf('/');
                var dir = slash < 0 ? "" : path[..slash];
                var name = path[(slash + 1)..];
                entries.Add(random.Next(7) switch
                {
                    0 or 1 or 2 => new AnalysisEntry(path, EntryKind.File, random.Next(1, 1000)),
                    3 => new AnalysisEntry(path, EntryKind.Dir, 0),
                    4 => new AnalysisEntry(path, random.Next(2) == 0 ? EntryKind.Symlink : EntryKind.Hardlink, 0),
                    5 => new AnalysisEntry(dir.Length == 0 ? ".wh." + name : dir + "/.wh." + name, EntryKind.Whiteout, 0),
                    _ => new AnalysisEntry(dir.Length == 0 ? ".wh..wh..opq" : dir + "/.wh..wh..opq", EntryKind.OpaqueWhiteout, 0),
                });
            }
            layers.Add(entries);
        }
        return layers;
    }

    private static HiddenFigures Reference(IReadOnlyList<IReadOnlyList<AnalysisEntry>> layers)
    {
        long bytes = 0, files = 0;
        for (var k = 0; k < layers.Count; k++)
        {
            foreach (var file in layers[k].Where(e => e.Kind == EntryKind.File))
            {
                var hidden = false;
                for (var upper = k + 1; upper < layers.Count && !hidden; upper++)
                {
                    hidden = layers[upper].Any(e => Hides(e, file.Path));
                }
                if (hidden)
                {
                    bytes += file.Size;
                    files++;
                }
            }
        }
        return new HiddenFigures(bytes, files);
    }

    private static bool Hides(AnalysisEntry upper, string path)
    {
        var slash = upper.Path.LastIndexOf('/');
        var dir = slash < 0 ? "" : upper.Path[..slash];
        var name = upper.Path[(slash + 1)..];
        bool Under(string ancestor) => ancestor.Length == 0 || path.StartsWith(ancestor + "/", StringComparison.Ordinal);
        return upper.Kind switch
        {
            EntryKind.Whiteout => path == (dir.Length == 0 ? "" : dir + "/") + name[4..] || Under((dir.Length == 0 ? "" : dir + "/") + name[4..]),
            EntryKind.OpaqueWhiteout => Under(dir),
            EntryKind.Dir => path == upper.Path,
            _ => path == upper.Path || Under(upper.Path),
        };
    }
}
