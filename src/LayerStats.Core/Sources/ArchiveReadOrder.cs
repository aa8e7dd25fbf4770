using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>
/// A layer whose blob lies in an archive that reads forward only (a gzipped tar): its blobs are cheapest read in the
/// order they lie in, <see cref="Ordinal"/>, among the other layers of the same <see cref="Archive"/>.
/// </summary>
internal interface IArchiveOrderedLayer
{
    /// <summary>The archive (compared by reference) whose layers are ordered among themselves.</summary>
    object Archive { get; }

    /// <summary>The position of the blob's entry in the archive.</summary>
    int Ordinal { get; }
}

/// <summary>A <see cref="BlobLayer"/> that says where its blob lies in a forward-only archive.</summary>
internal sealed class ArchiveOrderedLayer(BlobLayer layer, object archive, int ordinal) : ILayer, IArchiveOrderedLayer
{
    public Digest Digest => layer.Digest;

    public long Size => layer.Size;

    public string MediaType => layer.MediaType;

    public Digest DiffId => layer.DiffId;

    public bool IsAvailable => layer.IsAvailable;

    public object Archive => archive;

    public int Ordinal => ordinal;

    public ValueTask<Stream> OpenCompressedAsync(CancellationToken cancellationToken) => layer.OpenCompressedAsync(cancellationToken);
}

/// <summary>The read order of a plan, adjusted for forward-only archives.</summary>
internal static class ArchiveReadOrder
{
    /// <summary>
    /// Given layers in the order a plan chose, the order to read them in: the slots the layers of one forward-only
    /// archive hold are kept, and refilled with those layers in archive order; every other layer keeps its place.
    /// Null when no layer is of such an archive (nothing to change). <c>order[k]</c> is the index of the layer to read k-th.
    /// </summary>
    public static int[]? Arrange(IReadOnlyList<ILayer> layers)
    {
        Dictionary<object, List<int>>? slots = null;
        for (int i = 0; i < layers.Count; i++)
        {
            if (layers[i] is IArchiveOrderedLayer ordered)
            {
                slots ??= new Dictionary<object, List<int>>(ReferenceEqualityComparer.Instance);
                if (!slots.TryGetValue(ordered.Archive, out var list))
                {
                    slots.Add(ordered.Archive, list = []);
                }

                list.Add(i);
            }
        }

        if (slots is null)
        {
            return null;
        }

        var order = new int[layers.Count];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }

        foreach (var list in slots.Values)
        {
            var byOrdinal = list.ToArray();
            Array.Sort(byOrdinal, (a, b) => ((IArchiveOrderedLayer)layers[a]).Ordinal.CompareTo(((IArchiveOrderedLayer)layers[b]).Ordinal));
            for (int k = 0; k < list.Count; k++)
            {
                order[list[k]] = byOrdinal[k];
            }
        }

        return order;
    }
}
