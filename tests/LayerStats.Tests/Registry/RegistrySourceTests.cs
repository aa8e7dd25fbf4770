using System.Net;
using System.Security.Cryptography;
using LayerStats.Core.Images;
using LayerStats.Core.Model;
using LayerStats.Core.Registry;
using LayerStats.Core.Sources;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Registry;

public sealed class RegistrySourceTests
{
    private static readonly Dictionary<string, string> NoEnvironment = new() { ["HOME"] = "/nonexistent-home" };

    internal static BuiltImage Image(string seed, int size = 2000, string arch = "amd64", ManifestFormat format = ManifestFormat.Oci) =>
        new ImageBuilder(arch: arch, format: format)
            .Layer(new LayerBuilder().File($"{seed}/a.bin", Content.Random(seed, size)))
            .Layer(new LayerBuilder().File($"{seed}/b.txt", Content.Text(seed, 20)))
            .Build();

    private static (RegistrySession Session, FakeClock Clock) Session(RegistryCredential? credential = null, TimeSpan? budget = null, int pageSize = 1000, List<string>? warnings = null)
    {
        var clock = new FakeClock();
        var options = new RegistryOptions
        {
            Clock = clock,
            Random = () => 1.0,
            RetryBudget = budget ?? TimeSpan.FromSeconds(30),
            PageSize = pageSize,
            Credentials = new CredentialSettings { Explicit = credential, Environment = NoEnvironment },
            Warn = warnings is null ? null : warnings.Add,
        };
        return (new RegistrySession(options), clock);
    }

    private static async Task<SourceListing> ListAsync(RegistrySession session, string input, Platform? platform = null)
    {
        await using var source = session.Open(input, new ImageSourceOptions { PlatformFilter = platform });
        return await source.ListImagesAsync(CancellationToken.None);
    }

    internal static async Task<byte[]> ReadAllAsync(ILayer layer, bool syncReads = false)
    {
        await using var stream = await layer.OpenCompressedAsync(CancellationToken.None);
        using var copy = new MemoryStream();
        if (syncReads)
        {
            stream.CopyTo(copy, 7000);
        }
        else
        {
            await stream.CopyToAsync(copy, 7000);
        }

        return copy.ToArray();
    }

    private static void AssertSameImage(BuiltImage expected, IImage actual)
    {
        Assert.Equal(expected.ManifestDigest, actual.Id.ToString());
        Assert.Equal(expected.ManifestDigest, actual.ManifestDigest?.ToString());
        Assert.Equal(expected.ConfigDigest, actual.ConfigDigest.ToString());
        Assert.Equal(expected.Layers.Select(l => (l.Digest, l.Size, l.DiffId)), actual.Layers.Select(l => (l.Digest.ToString(), l.Size, l.DiffId.ToString())));
    }

    [Fact]
    public async Task One_tag_lists_the_image_and_its_blobs_stream_with_the_stated_digests()
    {
        using var registry = new FakeRegistry();
        var image = Image("one", format: ManifestFormat.DockerSchema2);
        registry.Push("team/app", image, "1.4");
        var (session, _) = Session();
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("team/app:1.4"));

        Assert.Empty(listing.Errors);
        var only = Assert.Single(listing.Images);
        AssertSameImage(image, only.Image);
        Assert.Equal(MediaTypes.DockerManifest, only.Image.ManifestMediaType);
        Assert.Equal(new ImageReference(registry.Input("team/app:1.4"), $"{registry.Host}/team/app", "1.4"), only.Reference);
        foreach (var layer in only.Image.Layers)
        {
            Assert.Equal(layer.Digest, Digest.Compute(await ReadAllAsync(layer)));
            Assert.Equal(layer.Digest, Digest.Compute(await ReadAllAsync(layer, syncReads: true)));
        }

        // the manifest was asked for with every supported type, schema 1 included (to reject it clearly)
        Assert.Contains(MediaTypes.DockerManifestList, RegistryImageSource.ManifestAccept);
        Assert.Contains(MediaTypes.DockerManifestV1Signed, RegistryImageSource.ManifestAccept);
    }

    [Fact]
    public async Task A_repository_means_every_tag_and_a_host_means_the_whole_catalog_across_pages()
    {
        using var registry = new FakeRegistry();
        var a = Image("a");
        var b = Image("b");
        var c = Image("c");
        registry.Push("team/app", a, "1", "latest");
        registry.Push("team/app", b, "2");
        registry.Push("base", c, "x");
        var (session, _) = Session(pageSize: 1);
        using var _s = session;

        var repo = await ListAsync(session, registry.Input("team/app"));
        var all = await ListAsync(session, registry.Input(""));

        Assert.Empty(repo.Errors);
        Assert.Equal(
            [("1", a.ManifestDigest), ("2", b.ManifestDigest), ("latest", a.ManifestDigest)],
            repo.Images.Select(i => (i.Reference.Tag!, i.Image.Id.ToString())));
        Assert.Empty(all.Errors);
        Assert.Equal(
            [$"{registry.Host}/base:x", $"{registry.Host}/team/app:1", $"{registry.Host}/team/app:2", $"{registry.Host}/team/app:latest"],
            all.Images.Select(i => $"{i.Reference.Repository}:{i.Reference.Tag}"));
        // pages of one: the Link header was followed
        Assert.Contains(registry.Server.Requests, r => r.PathAndQuery.StartsWith("/v2/_catalog?last=base", StringComparison.Ordinal));
        Assert.Contains(registry.Server.Requests, r => r.PathAndQuery.StartsWith("/v2/team/app/tags/list?last=2", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_index_yields_every_platform_or_the_one_asked_for_and_a_digest_names_no_tag()
    {
        using var registry = new FakeRegistry();
        var amd = Image("multi-amd", arch: "amd64");
        var arm = Image("multi-arm", arch: "arm64");
        var index = BuiltIndex.Of(ManifestFormat.DockerSchema2, amd, arm);
        registry.Push("multi", index, "1");
        var (session, _) = Session();
        using var _s = session;

        var every = await ListAsync(session, registry.Input("multi:1"));
        var armOnly = await ListAsync(session, registry.Input("multi:1"), new Platform("linux", "arm64"));
        var byDigest = await ListAsync(session, registry.Input("multi@" + index.Digest));

        Assert.Empty(every.Errors);
        Assert.Equal([amd.ManifestDigest, arm.ManifestDigest], every.Images.Select(i => i.Image.Id.ToString()));
        Assert.All(every.Images, i => Assert.Equal((index.Digest, "1"), (i.Reference.IndexDigest.ToString(), i.Reference.Tag)));
        Assert.Equal([arm.ManifestDigest], armOnly.Images.Select(i => i.Image.Id.ToString()));
        Assert.Equal(2, byDigest.Images.Count);
        Assert.All(byDigest.Images, i => Assert.Equal((index.Digest, (string?)null), (i.Reference.IndexDigest.ToString(), i.Reference.Tag)));
    }

    [Fact]
    public async Task A_bad_tag_is_an_error_for_that_image_and_the_other_tags_go_on()
    {
        using var registry = new FakeRegistry();
        var good = Image("good");
        registry.Push("app", good, "good");
        registry.Push("app", Image("corrupt"), "corrupt");
        registry.CorruptManifest("app", "corrupt");
        registry.PushRaw("app", "old", MediaTypes.DockerManifestV1Signed, """{"schemaVersion":1,"name":"app","tag":"old","fsLayers":[]}"""u8.ToArray());
        var (session, _) = Session();
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app"));

        Assert.Equal([good.ManifestDigest], listing.Images.Select(i => i.Image.Id.ToString()));
        Assert.Equal(2, listing.Errors.Count);
        var corrupt = Assert.Single(listing.Errors, e => e.Image == $"{registry.Host}/app:corrupt");
        Assert.Contains("Docker-Content-Digest", corrupt.Message);
        var old = Assert.Single(listing.Errors, e => e.Image == $"{registry.Host}/app:old");
        Assert.Contains("schema 1", old.Message);
        Assert.All(listing.Errors, e => Assert.Equal(registry.Input("app"), e.Source));
    }

    [Fact]
    public async Task Retries_honour_retry_after_and_back_off_on_5xx()
    {
        using var registry = new FakeRegistry();
        var image = Image("retry");
        registry.Push("app", image, "1");
        int manifestCalls = 0;
        registry.Intercept = async ctx =>
        {
            if (!ctx.Request.Url!.AbsolutePath.Contains("/manifests/", StringComparison.Ordinal))
            {
                return false;
            }

            switch (Interlocked.Increment(ref manifestCalls))
            {
                case 1:
                    ctx.Response.AddHeader("Retry-After", "3");
                    await FakeRegistry.WriteErrorAsync(ctx.Response, 429, "TOOMANYREQUESTS", "slow down");
                    return true;
                case 2:
                    await FakeRegistry.WriteErrorAsync(ctx.Response, 503, "UNAVAILABLE", "try later");
                    return true;
                default:
                    return false;
            }
        };
        var (session, clock) = Session();
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app:1"));

        Assert.Empty(listing.Errors);
        Assert.Equal(image.ManifestDigest, Assert.Single(listing.Images).Image.Id.ToString());
        Assert.Equal(3, manifestCalls);
        // Retry-After: 3 s, then the second backoff step (jitter drawn as 1.0): 400 ms
        Assert.Equal([3.0, 0.4], clock.Delays.Select(d => d.TotalSeconds));
    }

    [Fact]
    public async Task Past_the_retry_budget_the_image_is_an_error_and_the_rest_goes_on()
    {
        using var registry = new FakeRegistry();
        var good = Image("ok");
        registry.Push("app", good, "good");
        registry.Push("app", Image("down"), "down");
        registry.Intercept = async ctx =>
        {
            if (ctx.Request.Url!.AbsolutePath != "/v2/app/manifests/down")
            {
                return false;
            }

            await FakeRegistry.WriteErrorAsync(ctx.Response, 503, "UNAVAILABLE", "down");
            return true;
        };
        var (session, _) = Session(budget: TimeSpan.FromSeconds(5));
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app"));

        Assert.Equal([good.ManifestDigest], listing.Images.Select(i => i.Image.Id.ToString()));
        var error = Assert.Single(listing.Errors);
        Assert.Equal($"{registry.Host}/app:down", error.Image);
        // 0.2 + 0.4 + 0.8 + 1.6 = 3.0 s, then 2.0 s (what is left of 5 s): 6 attempts
        Assert.Equal($"registry {registry.Host}: GET /v2/app/manifests/down: gave up after 6 attempts over 5.0 s: last error HTTP 503 Service Unavailable", error.Message);
    }

    [Fact]
    public async Task An_unreachable_registry_is_one_error_for_the_input()
    {
        int port = TestHttpServer.FreePort(); // nothing listens there
        var (session, _) = Session(budget: TimeSpan.FromSeconds(2));
        using var _s = session;

        var listing = await ListAsync(session, $"docker://127.0.0.1:{port}/app");

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.StartsWith($"registry 127.0.0.1:{port}: GET /v2/: gave up after", error.Message);
        Assert.Null(error.Image);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_connection_reset_mid_blob_resumes_with_a_range_request(bool serverIgnoresRange)
    {
        using var registry = new FakeRegistry { IgnoreRange = serverIgnoresRange };
        var image = Image("reset", size: 300_000);
        registry.Push("app", image, "1");
        var big = image.Layers[0];
        int blobCalls = 0;
        registry.Intercept = async ctx =>
        {
            if (ctx.Request.Url!.AbsolutePath != $"/v2/app/blobs/{big.Digest}" || Interlocked.Increment(ref blobCalls) > 2)
            {
                return false;
            }

            // the first two answers break off: after 100 000 bytes, then (resumed) after 50 000 more
            long from = ctx.Request.Headers["Range"] is { } r ? long.Parse(r[6..^1], System.Globalization.CultureInfo.InvariantCulture) : 0;
            if (serverIgnoresRange)
            {
                from = 0;
            }

            ctx.Response.StatusCode = from > 0 ? 206 : 200;
            ctx.Response.ContentLength64 = big.Blob.Length - from;
            int cut = blobCalls == 1 ? 100_000 : 150_000;
            await ctx.Response.OutputStream.WriteAsync(big.Blob.AsMemory((int)from, cut - (int)from));
            await ctx.Response.OutputStream.FlushAsync();
            ctx.Response.Abort();
            return true;
        };
        var (session, _) = Session();
        using var _s = session;
        var listing = await ListAsync(session, registry.Input("app:1"));
        var layer = Assert.Single(listing.Images).Image.Layers[0];

        byte[] bytes = await ReadAllAsync(layer);

        Assert.Equal(big.Blob, bytes);
        var ranges = registry.Server.Requests.Where(r => r.PathAndQuery == $"/v2/app/blobs/{big.Digest}").Select(r => r.Range).ToList();
        // listing reads no layer blob; the read: the first request, and two resumes from where the bytes stopped
        Assert.Equal([null, "bytes=100000-", "bytes=150000-"], ranges);
    }

    [Fact]
    public async Task A_blob_that_never_makes_progress_fails_within_the_budget()
    {
        using var registry = new FakeRegistry();
        var image = Image("stuck", size: 50_000);
        registry.Push("app", image, "1");
        var first = image.Layers[0];
        registry.Intercept = async ctx =>
        {
            if (ctx.Request.Url!.AbsolutePath != $"/v2/app/blobs/{first.Digest}")
            {
                return false;
            }

            long from = ctx.Request.Headers["Range"] is { } r ? long.Parse(r[6..^1], System.Globalization.CultureInfo.InvariantCulture) : 0;
            ctx.Response.StatusCode = from > 0 ? 206 : 200;
            ctx.Response.ContentLength64 = first.Blob.Length - from;
            if (from == 0)
            {
                await ctx.Response.OutputStream.WriteAsync(first.Blob.AsMemory(0, 1000));
                await ctx.Response.OutputStream.FlushAsync();
            }

            ctx.Response.Abort();
            return true;
        };
        var (session, _) = Session(budget: TimeSpan.FromSeconds(3));
        using var _s = session;
        var listing = await ListAsync(session, registry.Input("app:1"));
        var layer = Assert.Single(listing.Images).Image.Layers[0];

        var ex = await Assert.ThrowsAsync<RegistryException>(() => ReadAllAsync(layer));

        Assert.Contains($"registry {registry.Host}: GET /v2/app/blobs/{first.Digest}: gave up after", ex.Message);
        Assert.Contains("at byte 1000", ex.Message);
        Assert.IsAssignableFrom<IOException>(ex);
    }

    [Fact]
    public async Task A_redirect_to_another_host_does_not_carry_the_authorization_header()
    {
        var image = Image("redirected", size: 20_000);
        var blobs = image.Blobs;
        using var storage = new TestHttpServer(ctx =>
        {
            string digest = ctx.Request.Url!.AbsolutePath["/storage/".Length..];
            return FakeRegistry.ServeBlobAsync(ctx, blobs[digest]);
        });
        using var registry = new FakeRegistry(FakeAuth.Basic) { RedirectBlobsTo = storage };
        registry.Push("app", image, "1");
        var (session, _) = Session(new RegistryCredential(registry.User, registry.Password, null, "test"));
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app:1"));
        Assert.Empty(listing.Errors);
        foreach (var layer in Assert.Single(listing.Images).Image.Layers)
        {
            Assert.Equal(layer.Digest, Digest.Compute(await ReadAllAsync(layer)));
        }

        // the config and both layers came from storage, without credentials; the registry saw them on every request after the ping
        Assert.Equal(3, storage.Requests.Count);
        Assert.All(storage.Requests, r => Assert.Null(r.Authorization));
        Assert.All(registry.Server.Requests.Where(r => r.PathAndQuery != "/v2/"), r => Assert.StartsWith("Basic ", r.Authorization));
    }

    [Fact]
    public async Task Bearer_tokens_are_fetched_per_scope_reused_and_renewed_on_expiry_or_401()
    {
        using var registry = new FakeRegistry(FakeAuth.Bearer) { TokenLifetimeSeconds = 100 };
        var image = Image("tok");
        registry.Push("app", image, "1", "2");
        registry.Push("other", Image("tok2"), "1");
        var (session, clock) = Session(new RegistryCredential(registry.User, registry.Password, null, "test"));
        using var _s = session;

        var app = await ListAsync(session, registry.Input("app"));
        var layer = app.Images[0].Image.Layers[0];
        await ReadAllAsync(layer);
        Assert.Empty(app.Errors);
        Assert.Equal(2, app.Images.Count);
        Assert.Equal(["repository:app:pull"], registry.TokenRequests.Select(t => t.Scope)); // one token for tags, manifests, config, blob

        var other = await ListAsync(session, registry.Input("other:1"));
        Assert.Single(other.Images);
        Assert.Equal(["repository:app:pull", "repository:other:pull"], registry.TokenRequests.Select(t => t.Scope));

        clock.Advance(TimeSpan.FromSeconds(91)); // past 90% of expires_in
        await ReadAllAsync(layer);
        Assert.Equal(3, registry.TokenRequests.Count);

        registry.RevokeTokens(); // the registry forgets them: a 401 with a challenge, one new token, the request again
        await ReadAllAsync(layer);
        Assert.Equal(4, registry.TokenRequests.Count);
        Assert.All(registry.TokenRequests, t => Assert.StartsWith("Basic ", t.Authorization));
    }

    [Fact]
    public async Task An_identity_token_is_exchanged_for_an_access_token_with_an_oauth2_post()
    {
        using var registry = new FakeRegistry(FakeAuth.Bearer);
        var image = Image("oauth");
        registry.Push("app", image, "1");
        var (session, _) = Session(new RegistryCredential("", "", registry.IdentityToken, "test"));
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app:1"));

        Assert.Empty(listing.Errors);
        Assert.Equal(image.ManifestDigest, Assert.Single(listing.Images).Image.Id.ToString());
        var token = Assert.Single(registry.TokenRequests);
        Assert.Equal(("repository:app:pull", (string?)null), token);
        Assert.Contains(registry.Server.Requests, r => r is { Method: "POST", PathAndQuery: "/token" });
    }

    [Theory]
    [InlineData(FakeAuth.Basic)]
    [InlineData(FakeAuth.Bearer)]
    public async Task Rejected_credentials_give_a_clear_error_that_never_shows_the_password(FakeAuth auth)
    {
        using var registry = new FakeRegistry(auth);
        registry.Push("app", Image("auth"), "1");
        const string Wrong = "Wr0ng-PASSWORD-xyz";
        var (session, _) = Session(new RegistryCredential(registry.User, Wrong, null, "--username"));
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app:1"));

        Assert.Empty(listing.Images);
        var error = Assert.Single(listing.Errors);
        Assert.Contains("401", error.Message);
        Assert.Contains("--username", error.Message);
        string encoded = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{registry.User}:{Wrong}"));
        Assert.DoesNotContain(Wrong, error.ToString());
        Assert.DoesNotContain(encoded, error.ToString());

        // and the exception itself, with its stack and inner exceptions
        var client = session.ClientFor(registry.Host);
        var ex = await Assert.ThrowsAsync<RegistryException>(() => client.GetDocumentAsync(
            new RegistryRequest(HttpMethod.Get, client.Url("/v2/app/manifests/1"), RegistryImageSource.Scope("app"), RegistryImageSource.ManifestAccept), 1 << 20, CancellationToken.None));
        Assert.DoesNotContain(Wrong, ex.ToString());
        Assert.DoesNotContain(encoded, ex.ToString());
    }

    [Fact]
    public async Task Anonymous_access_to_a_registry_that_needs_credentials_says_so()
    {
        using var registry = new FakeRegistry(FakeAuth.Basic);
        registry.Push("app", Image("anon"), "1");
        var (session, _) = Session();
        using var _s = session;

        var listing = await ListAsync(session, registry.Input("app:1"));

        string message = Assert.Single(listing.Errors).Message;
        Assert.Contains("HTTP 401", message);
        Assert.Contains($"no credentials found for {registry.Host}", message);
    }

    [Fact]
    public async Task Request_slots_per_registry_bound_the_requests_in_flight()
    {
        using var registry = new FakeRegistry();
        var images = Enumerable.Range(0, 8).Select(i => Image($"slot{i}")).ToList();
        for (int i = 0; i < images.Count; i++)
        {
            registry.Push("app", images[i], $"t{i}");
        }

        int inFlight = 0;
        int most = 0;
        registry.Intercept = async ctx =>
        {
            int now = Interlocked.Increment(ref inFlight);
            InterlockedMax(ref most, now);
            await Task.Delay(20);
            Interlocked.Decrement(ref inFlight);
            return false;
        };
        var clock = new FakeClock();
        using var session = new RegistrySession(new RegistryOptions { Clock = clock, JobsPerRegistry = 2, Credentials = new CredentialSettings { Environment = NoEnvironment } });

        var listing = await ListAsync(session, registry.Input("app"));

        Assert.Equal(8, listing.Images.Count);
        Assert.InRange(most, 1, 2);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
