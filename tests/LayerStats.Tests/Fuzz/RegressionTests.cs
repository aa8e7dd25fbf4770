using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Sources;

namespace LayerStats.Tests.Fuzz;

/// <summary>
/// The inputs the fuzzer found failing, minimised and kept under corpus/crashes/ (the fuzz tests also replay every one
/// of them): each now fails with the documented exception and a message that says what is wrong.
/// </summary>
[Collection(nameof(FuzzCollection))]
public sealed class RegressionTests
{
    /// <summary>
    /// Invalid UTF-8 inside a JSON string, or an escaped lone surrogate (\ud800), (a value or a property name) parsed, then threw InvalidOperationException
    /// ("Cannot transcode invalid UTF-8 JSON text") from GetString: not an ImageFormatException, and a listing that
    /// threw instead of returning its error.
    /// </summary>
    [Theory]
    [InlineData("json-invalid-utf8-string.bin", "manifest")]
    [InlineData("json-invalid-utf8-name.bin", "index")]
    [InlineData("json-lone-surrogate-name.bin", "manifest")]
    [InlineData("json-lone-surrogate-value.bin", "manifest")]
    public void Invalid_utf8_in_json_is_an_ImageFormatException(string file, string kind)
    {
        byte[] bytes = File.ReadAllBytes(FuzzHarness.Corpus("crashes", file));

        var ex = Assert.Throws<ImageFormatException>(() => kind == "index" ? (object)ManifestParser.ParseIndex(bytes, "index x") : ManifestParser.ParseManifest(bytes, "manifest x"));

        Assert.StartsWith($"{kind} x: not valid JSON", ex.Message, StringComparison.Ordinal);
        Assert.Contains(file.Contains("surrogate", StringComparison.Ordinal) ? "surrogate" : "UTF-8", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>A schemaVersion that is a number but not an Int32 threw FormatException from GetInt32.</summary>
    [Theory]
    [InlineData("json-schema-version-overflow.bin")]
    [InlineData("json-schema-version-int32.bin")]
    public void Schema_version_out_of_range_is_not_a_crash(string file)
    {
        byte[] bytes = File.ReadAllBytes(FuzzHarness.Corpus("crashes", file));

        Assert.Null(Record.Exception(() => ManifestParser.DetectMediaType(bytes, "blob x")));
        var ex = Record.Exception(() => ManifestParser.ParseManifest(bytes, "manifest x"));
        Assert.True(ex is null or ImageFormatException, ex?.ToString());
        var index = Record.Exception(() => ManifestParser.ParseIndex(bytes, "index x"));
        Assert.True(index is null or ImageFormatException, index?.ToString());
    }

    [Fact]
    public async Task Archive_whose_index_json_is_not_utf8_lists_an_error()
    {
        using var temp = new TempDir();
        string path = temp.File("archive.tar");
        File.Copy(FuzzHarness.Corpus("crashes", "archive-index-invalid-utf8.bin"), path);

        await using var source = ImageSources.Open(path);
        var listing = await source.ListImagesAsync(CancellationToken.None);

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.Equal(path, error.Source);
        Assert.StartsWith("index.json: not valid JSON", error.Message, StringComparison.Ordinal);
        Assert.Contains("UTF-8", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A header whose uid is a base-256 number beyond Int32 made System.Formats.Tar throw OverflowException while the
    /// archive was indexed, and the listing threw instead of returning an error.
    /// </summary>
    [Fact]
    public async Task Archive_with_a_base256_uid_beyond_int32_lists_an_error()
    {
        using var temp = new TempDir();
        string path = temp.File("archive.tar");
        File.Copy(FuzzHarness.Corpus("crashes", "archive-uid-base256-overflow.bin"), path);

        await using var source = ImageSources.Open(path);
        var listing = await source.ListImagesAsync(CancellationToken.None);

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.Contains("is not a readable tar archive", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// An mtime in base-256 beyond DateTime, or a GNU sparse entry ('S') in the outer archive, made System.Formats.Tar
    /// throw ArgumentOutOfRangeException or NotSupportedException out of the listing.
    /// </summary>
    [Theory]
    [InlineData("archive-mtime-base256-beyond-datetime.bin")]
    [InlineData("archive-gnu-sparse-entry.bin")]
    public async Task Archive_that_System_Formats_Tar_refuses_lists_an_error(string file)
    {
        using var temp = new TempDir();
        string path = temp.File("archive.tar");
        File.Copy(FuzzHarness.Corpus("crashes", file), path);

        await using var source = ImageSources.Open(path);
        var listing = await source.ListImagesAsync(CancellationToken.None);

        Assert.Empty(listing.Images);
        Assert.Contains("is not a readable tar archive", Assert.Single(listing.Errors).Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A GNU sparse header claiming a logical size of 2^57 bytes (a few KB of input) made the reader hash 144 PB of
    /// zeros: a hang that cancellation could not stop. Holes beyond the limit are now refused at once.
    /// </summary>
    [Fact]
    public async Task Sparse_file_with_an_absurd_logical_size_is_refused_at_once()
    {
        byte[] bytes = File.ReadAllBytes(FuzzHarness.Corpus("crashes", "tar-sparse-realsize-2pow57.bin"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var ex = await Assert.ThrowsAsync<LayerFormatException>(() => LayerReader.ReadAsync(new MemoryStream(bytes), FileHashing.Xxh128, new NullSink(), cts.Token));

        Assert.Contains("144115188075855872", ex.Message, StringComparison.Ordinal);
        Assert.Contains("limit", ex.Message, StringComparison.Ordinal);
        Assert.Equal("var/sparse.img", ex.EntryPath);
    }

    private sealed class NullSink : IFileEntrySink
    {
        public ValueTask WriteAsync(ReadOnlyMemory<FileEntry> batch, CancellationToken ct) => ValueTask.CompletedTask;
    }
}
