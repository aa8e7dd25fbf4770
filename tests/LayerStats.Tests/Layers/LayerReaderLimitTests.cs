using LayerStats.Core.Layers;

namespace LayerStats.Tests.Layers;

/// <summary>The reader's limits on metadata a hostile tar could inflate (SECURITY.md: tar parsing limits).</summary>
public sealed class LayerReaderLimitTests
{
    [Theory]
    [InlineData('x')] // PAX extended header
    [InlineData('L')] // GNU long name
    public async Task Metadata_over_one_MiB_is_refused_before_it_is_read(char type)
    {
        int size = (1 << 20) + 1;
        byte[] tar = TarBytes.Concat(
            TarBytes.Header(type == 'x' ? "PaxHeaders/a" : "././@LongLink", type, size, gnu: type == 'L'),
            TarBytes.Padded(new byte[size]),
            TarBytes.Header("a", '0', 0),
            TarBytes.EndOfArchive);

        var error = await Assert.ThrowsAsync<LayerFormatException>(() => TarBytes.ReadAsync(tar));

        Assert.Contains($"{size} bytes exceeds the {1 << 20}-byte limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metadata_of_exactly_one_MiB_is_accepted()
    {
        string longName = "d/" + new string('n', (1 << 20) - 40);
        byte[] records = TarBytes.PaxRecords(("path", longName));
        Assert.True(records.Length <= 1 << 20);
        byte[] tar = TarBytes.Concat(
            TarBytes.Header("PaxHeaders/a", 'x', records.Length),
            TarBytes.Padded(records),
            TarBytes.Header("a", '0', 0),
            TarBytes.EndOfArchive);

        var (_, entries, _) = await TarBytes.ReadAsync(tar);

        Assert.Equal(longName, Assert.Single(entries).Path);
    }
}
