using System.Text.Json;
using LayerStats.Core.Images;
using LayerStats.Core.Registry;
using LayerStats.Fixtures;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// A distribution registry with <see cref="Repositories"/> repositories (many/r00 … many/r23, names that sort as written),
/// each holding its own small image under 1 to 3 tags, pushed over the API; a <see cref="FaultProxy"/> in front of it.
/// </summary>
public sealed class ManyRepositoriesFixture : IAsyncLifetime
{
    public const int Repositories = 24;

    private RegistryServer? _registry;
    private FaultProxy? _proxy;

    public RegistryServer Registry => _registry ?? throw new InvalidOperationException("not started");

    public FaultProxy Proxy => _proxy ?? throw new InvalidOperationException("not started");

    /// <summary>(repository, tag) → the manifest digest pushed there.</summary>
    public Dictionary<(string Repository, string Tag), string> Pushed { get; } = [];

    public static string Name(int i) => $"many/r{i:D2}";

    public async Task InitializeAsync()
    {
        _registry = await RegistryServer.StartAsync();
        for (int i = 0; i < Repositories; i++)
        {
            var image = new ImageBuilder()
                .Layer(new LayerBuilder(implicitParents: true).File($"srv/{i}/data", Content.Text("catalog/" + i, 200 + i)), LayerCompression.Gzip)
                .Build();
            for (int t = 0; t <= i % 3; t++)
            {
                string tag = $"v{t}";
                await RegistryPush.ImageAsync(_registry.BaseUri, Name(i), image, tag);
                Pushed[(Name(i), tag)] = image.ManifestDigest;
            }
        }

        _proxy = new FaultProxy(_registry.BaseUri);
    }

    public async Task DisposeAsync()
    {
        if (_proxy is not null)
        {
            await _proxy.DisposeAsync();
        }

        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }
    }
}

/// <summary>
/// A whole-registry listing (<c>docker://HOST</c>): the catalog is read page by page, then the tag lists of its repositories
/// concurrently (bounded by <see cref="RegistryOptions.JobsPerRegistry"/>). The images come out in the order of a sequential
/// read of the same registry done here with a plain HttpClient, whatever the concurrency; a repository whose tag list fails
/// is one error naming it, and the others are listed.
/// </summary>
public sealed class RegistryCatalogTests(ManyRepositoriesFixture fixture) : IClassFixture<ManyRepositoriesFixture>
{
    /// <summary>(host/repository, tag) in the registry's own order: the catalog, then each repository's tags, read one by one.</summary>
    private static async Task<List<(string Repository, string Tag)>> SequentialListingAsync(RegistryServer registry)
    {
        using var http = new HttpClient { BaseAddress = registry.BaseUri };
        var expected = new List<(string, string)>();
        foreach (string repository in await ListAsync(http, "v2/_catalog?n=1000", "repositories"))
        {
            foreach (string tag in await ListAsync(http, $"v2/{repository}/tags/list?n=1000", "tags"))
            {
                expected.Add(($"{registry.Host}/{repository}", tag));
            }
        }

        return expected;
    }

    private static async Task<List<string>> ListAsync(HttpClient http, string path, string property)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync(path));
        return doc.RootElement.GetProperty(property).EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    private static async Task<SourceListing> ListAsync(string host, int jobs)
    {
        // Small pages: the catalog (24 names) takes 5 pages and a tag list of 3 tags 2, so paging is exercised too.
        await using var session = new RegistrySession(new RegistryOptions { JobsPerRegistry = jobs, PageSize = 2, RetryBudget = TimeSpan.FromSeconds(5) });
        await using var source = session.Open($"docker://{host}");
        return await source.ListImagesAsync(CancellationToken.None);
    }

    private static List<(string Repository, string Tag)> Names(SourceListing listing) =>
        listing.Images.Select(i => (i.Reference.Repository!, i.Reference.Tag!)).ToList();

    [Fact]
    public async Task The_listing_is_in_catalog_and_tag_order_whatever_the_concurrency()
    {
        var expected = await SequentialListingAsync(fixture.Registry);
        Assert.Equal(fixture.Pushed.Count, expected.Count); // 24 repositories, 8 × (1 + 2 + 3) tags = 48
        Assert.Equal(48, expected.Count);

        foreach (int jobs in new[] { 1, 4, 16 })
        {
            var listing = await ListAsync(fixture.Registry.Host, jobs);
            Assert.Empty(listing.Errors);
            Assert.Equal(expected, Names(listing));
            // Each tag is its repository's own image.
            Assert.All(listing.Images, i =>
                Assert.Equal(fixture.Pushed[(i.Reference.Repository![(fixture.Registry.Host.Length + 1)..], i.Reference.Tag!)], i.Image.Id.ToString()));
        }
    }

    [Fact]
    public async Task A_repository_whose_tag_list_fails_is_one_error_naming_it_and_the_others_are_listed()
    {
        fixture.Proxy.Reset();
        var rule = fixture.Proxy.Inject("GET", "^/v2/many/r07/tags/list", Fault.Status(404), times: null);
        var server = await SequentialListingAsync(fixture.Registry);
        string proxied = fixture.Proxy.Host;
        var expected = server
            .Select(e => (Repository: proxied + e.Repository[fixture.Registry.Host.Length..], e.Tag))
            .Where(e => e.Repository != $"{proxied}/many/r07")
            .ToList();

        var listing = await ListAsync(proxied, jobs: 4);
        Assert.Equal(expected, Names(listing));
        var error = Assert.Single(listing.Errors);
        Assert.Equal($"{proxied}/many/r07", error.Image);
        Assert.Contains("/v2/many/r07/tags/list", error.Message, StringComparison.Ordinal);
        Assert.Contains("404", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, rule.Hits);
        fixture.Proxy.Reset();
    }
}
