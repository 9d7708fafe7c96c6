// Each batch commits on its own: old pods keep writing while it runs.
export const transaction = false

export async function up(ctx) {
  await ctx.batch(
    `update users set full_name = name
      where id = any(array(select id from users where full_name is null and name is not null limit $size))`,
    { size: 10_000 },
  )
}
