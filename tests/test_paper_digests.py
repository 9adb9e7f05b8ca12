"""The `paper` preset's output, byte for byte: sha256 of every table's ``df.to_csv()``.

The digests were computed from main before the v2 design space was wired in (issue 13: "The
`paper` preset is unchanged byte for byte (a test holds its digests)"). A change to the paper
generator's draws, dtypes, column order or values fails this test; update the digests only for
a change that is meant to alter the paper output.
"""

from __future__ import annotations

import hashlib

import pytest

import plurel_core as pc

DIGESTS: dict[tuple[str, int], dict[str, str]] = {
    ("paper", 0): {
        "table_0": "17fd1fadc4b893a6e0d07e570a3fbb08c56ecf50adc1bc00b895b75c992fdfbb",
        "table_10": "3260c3cff702903a41ba487bb7bdb874d34f6e7891e55b8a2cbac5974dca461b",
        "table_1": "63bd805c62a894a59a6b3970fe7231d34c821cbec770345b54acad43fa2ea4e0",
        "table_12": "71cb8fa5f0a32ef1a3d4972053cfd50c5751bafbac3c60521ac8c592c8083857",
        "table_13": "b076b65c7910a525cb0be6c5552a7244b02dc8e9e90d1cc0724d5b129a72cdd7",
        "table_2": "56b487129c65ff7adced797523e6f42a74bca5bf913646665fc0e3d03fb043a1",
        "table_3": "d66f6116665955f833024184b445cc74a66b1dd83267779d2ecf938183b516a5",
        "table_4": "ab711ba0c29c29cbe7d6770808e1b0eb4fcc6167d4f9aeab77468788060ae637",
        "table_5": "c8af0c6449d2d0099d39b975f313a937b3979377135a279b0d91c06e61884368",
        "table_6": "6c13da7b130dea2cc2f85c7d898d03277a07552db5ff78af66d9ec44e97560c4",
        "table_7": "d0ce7b68dfc89ca37730c22c97c44778fd123fbe57cb4d3302f61e6e5fa69b90",
        "table_8": "17af13918d3664e05b668cfe71def02e758029f47f85a8e9f878515e8580b6de",
        "table_9": "0047ae321f8ff52fff50a53d9b7028067d3636b6bd0f81d71e180e1dd8cbcdd4",
        "table_11": "df8920de6ae03068c862c0ca61873f689f62d223fff2805dfe691743736f04d1",
    },
    ("paper", 1): {
        "table_8": "9b26e8a1d54cc1e7629faaea21a65d3bc5e247bda6777e2fbf44a91f088942e8",
        "table_10": "8017ff3a1366a06b8c66f0e195a88cf9f22e7121c029f706823892f6a313139a",
        "table_12": "344f0a873ce1807ddfd032780245b471e463f8324d3ddc3d7cfce2b2b3631263",
        "table_13": "03464b638a6bf1fdf993a114eadb807b6bd4cb6d483d0dea7d0f47dbfadd7af8",
        "table_14": "8c07721c6d3baddb4ffa10ad592962190403385d28f167f2f313175e5673e6e9",
        "table_16": "5b53ef9c4e6fcf1a78da26176febade43e9c55cf8d10bf865af7ffd02bd9b252",
        "table_1": "08b86cf36c553d0bccf85fc01d74a7a423fc379c7e482e52e461d056ad975e8e",
        "table_2": "e635ffefe145dc7dc176eab85240bb02f98a8d0edf0a5be7d1925a424ccd72a3",
        "table_4": "8c3cb452c6692a9233c1b57e3e29707cc6a24f111aa450b4c95ef63d21aa1aff",
        "table_17": "095cc5421801981b2609bdce7830fde63b69bc47a294a07cfbef9f9b90795b28",
        "table_5": "5c0b71db58c48040e7fc666cf20071d76cae715dee21e4587d159b4b6d9cf8fd",
        "table_11": "d203f945e3047a3ddd08861ab9bcffd43e02a312d4365b295c37809e1834d745",
        "table_7": "67fc75b0aaaf22b8ecb8547d752d5f533d9b1f80ca24a2956571fa3103bad59f",
        "table_3": "64ff47d33fc5bcc65bec45513f60bc842176a6284294770147cbb0d07f49219d",
        "table_9": "8a4bd3c24586b0647e6086cf6625eadb2416e52d4b565a785f9a1cb01ba814f3",
        "table_6": "d15b8501ea15771b1ac37442dbaf087892bbdfaa77ac22832e6db5100fd0c8e5",
        "table_0": "06c4f6a4e81f307333c8537db588037ba984531015766d211cfb650087400806",
        "table_18": "679ee5be803475bd0086b6a43338ca7ca0cddc4e519c1be010c0097ebdbbc7b1",
        "table_15": "92313c1200948c26ddd6321bd25cc6b8b5b172261bc61ec59929324b5ac4a312",
    },
    ("demo", 0): {
        "table_0": "02ef75ff077df21d19a8f1fcd243e09ea23152d2c42d7ab5ac96d829dd6eef9a",
        "table_1": "cee3330c817bb18a75e38c44ecdffb81ede4df87c30455cb4a07e9435f67b7ad",
        "table_2": "31ae494102316c3f6630b907ef83b82e4a96b68e045d00a50e77ce9c28126bb1",
        "table_3": "55ef81a0d4d6269d08d641c1f0ede36be9dfcc5d77972abecbdc1f8acd86f57e",
        "table_4": "a1870ac4e8b910e498ffe0e0c75cfe37831b6040a2ccca13a78c5bbe528e83e3",
    },
    ("demo", 1): {
        "table_2": "6f35825f0064b14c375d24f86ae62a201a77f153b9541dfe05767095e3c43828",
        "table_4": "c8bac03ed8673697d01fbe4ecde233adc4ede07212b63af93c563fce15551a8f",
        "table_1": "9b77c4e2fcb833064cdc96c82ccbc97c647e85043b2a945fc13c36cfcb945756",
        "table_5": "fa6b9dd37456282a7d0510738b441834dfd3f49a933b912a11b554a993bf206e",
        "table_3": "f76425e141483d7f3f93d51ce14177ff3b8e981be0a010cf38012ca82fb1ad57",
        "table_0": "a11cce0b06026fad672590014af7282ac5477210f37d54826bf15b9097241171",
    },
    ("demo", 2): {
        "table_0": "a141e8ad6234e61430885168bdc3c7e6f4359e92413a5874959871043572bb63",
        "table_1": "44a776d1733da919a2975050e634d25a7fd64092bc118b7fbfb02e1f196048ec",
        "table_2": "daace1d3fdd64665b20b4cc7e39d12dedca70d0471ec5ac7a45db23b8fd651d2",
        "table_3": "e0b7d07af9f62f95cf9fee96a1398e1e3385a3f33fb0abc1af9755566eb3841c",
        "table_4": "da98810f60a6bbc6c00f924be42f6d79672fc22df73d71594df6e7aad766a01a",
        "table_5": "9ecbd087aee4730556658235c85ee2028d3ff9f173fcdf9c7a0a778884ea5463",
    },
}


def _config(preset: str) -> pc.Config:
    return pc.Config() if preset == "paper" else pc.Config.preset(preset)


@pytest.mark.parametrize(("preset", "seed"), list(DIGESTS))
def test_paper_preset_tables_are_unchanged(preset, seed):
    db = pc.generate(_config(preset), seed)
    got = {name: hashlib.sha256(t.df.to_csv().encode()).hexdigest() for name, t in db.tables.items()}
    assert list(got) == list(DIGESTS[preset, seed])  # same tables, same order
    assert got == DIGESTS[preset, seed]
