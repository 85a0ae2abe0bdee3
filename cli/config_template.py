"""The commented default config that `repe init` writes; tests keep it equal to config.example.toml."""

EXAMPLE_CONFIG = '''\
# repe-bot configuration / repe-bot 配置文件
#
# Every key below is set to its default, so deleting a key changes nothing. Unknown keys are
# rejected with the key's name. Relative paths are resolved against this file's folder.
# 下列每一项都是默认值；删除某项等于使用默认值。拼错的键名会报错。相对路径相对于本文件所在目录。

# Language of command-line screens and errors: "zh" or "en". 命令行界面语言。
language = "zh"

[bot]
# Bot name passed to wechaty. 机器人名称。
name = "repe-bot"
# "simulator" (local console, no WeChat) or "service" (wechaty-puppet-service over gRPC). 接入方式。
puppet = "simulator"
# Contact wxids allowed to run admin commands in chat. 可在聊天中使用管理命令的 wxid 列表。
admins = []
# Host of wechaty's local plugin server; keep it on 127.0.0.1. wechaty 插件服务监听地址。
plugin_host = "127.0.0.1"
# Port of wechaty's local plugin server (1-65535). wechaty 插件服务端口。
plugin_port = 5000
# Messages older than this many seconds (such as replays after a reconnect) are ignored. 忽略的旧消息秒数。
max_message_age_seconds = 600

[bot.service]
# Puppet service token; empty means WECHATY_PUPPET_SERVICE_TOKEN. 令牌，留空则读环境变量。
token = ""
# Puppet service host:port; empty means WECHATY_PUPPET_SERVICE_ENDPOINT. 服务地址，留空则读环境变量。
endpoint = ""
# Seconds to wait for the WeChat login before giving up. 等待登录的秒数。
login_timeout_seconds = 60.0

[bot.simulator]
# Scenario file for `repe bot run` with puppet = "simulator" (required there) and the default
# world of `repe simulate` (empty: the bundled demo). 模拟器场景文件；simulate 留空时使用内置演示。
scenario = ""
# Scenario speed-up: message times are divided by this; 0 plays all at once. 场景播放倍速。
speed = 1.0

[database]
# SQLAlchemy URL; a relative SQLite path is relative to this file. 数据库地址。
url = "sqlite:///repe.db"
# Milliseconds a writer waits for the SQLite lock held by another process. SQLite 锁等待毫秒数。
busy_timeout_ms = 5000
# Days to keep processed message ids, which stop a message from being handled twice. 已处理消息记录保留天数。
processed_retention_days = 7

[time]
# IANA time zone for deadlines, activity days, task times and displayed times. 时区。
zone = "Asia/Shanghai"
# Local HH:MM at which a new activity day starts (daily activities, daily limits). 每日活动的日切时间。
day_reset = "00:00"

[sending]
# Maximum messages the bot sends per minute, spaced evenly. 每分钟最多发送条数。
per_minute = 20
# Minimum seconds between two messages to the same conversation. 同一会话两条消息的最小间隔秒数。
conversation_spacing_seconds = 3.0
# Random extra seconds (0 to this) added to the spacing. 间隔上附加的随机秒数上限。
jitter_seconds = 1.0
# Seconds to wait so join confirmations in one room merge into one message. 合并报名回复的等待秒数。
coalesce_seconds = 2.0
# Maximum members mentioned in one merged message. 一条合并消息最多 @ 的人数。
max_mentions = 50
# First retry delay in seconds after a failed send; it doubles on each retry. 发送失败后首次重试的秒数。
retry_base_seconds = 5.0
# Upper bound of the retry delay in seconds. 重试间隔上限秒数。
retry_max_seconds = 300.0
# Send attempts before a message is marked failed. 最多发送尝试次数。
max_attempts = 8

[tasks]
# Minutes after its time a missed task slot is still sent; later it is skipped. 补发时限分钟数。
grace_minutes = 10
# Seconds between two housekeeping passes (deadlines, due tasks, rows the command line wrote). 轮询间隔秒数。
poll_seconds = 2.0

[sync]
# Sync contacts, rooms and members after each login. 登录后同步通讯录和群。
on_login = true
# Accept friend requests automatically. 自动通过好友请求。
auto_accept_friends = false
# Accept room invitations automatically. 自动接受入群邀请。
auto_accept_room_invites = false
# Number of contact or room details fetched at the same time during a sync. 同步时的并发数。
concurrency = 8
# Rows written per transaction during a sync. 同步时每批写入的行数。
batch_size = 500

[replies]
# Reply to failed joins (already joined, full, not enough points, closed). 报名失败时是否回复。
rejections = true

# Bot reply texts, formatted with {placeholders}; a placeholder a text may not use is rejected.
# 机器人回复模板，可用的 {占位符} 见每行注释。
[templates]
# {name} {activity} {reward_text} {cost_text} {seq} {reward} {cost}
join_ok = "报名成功：{name}{reward_text}"
# {reward}
reward_text = "，获得 {reward} 积分"
# {cost}
cost_text = "，扣除 {cost} 积分"
# {activity} {count} {lines}: several confirmations merged into one message.
join_ok_many = "「{activity}」报名成功 {count} 人：\\n{lines}"
# {seq} {name} {reward_text} {cost_text} {reward} {cost}: one line of a merged confirmation.
join_line = "{seq}. {name}{reward_text}"
# {activity} {name}
already_joined = "你已经报名过「{activity}」了"
# {activity} {name} {capacity}
full = "「{activity}」名额已满"
# {activity} {name} {required} {balance}
not_enough_points = "积分不足：「{activity}」需要 {required} 积分，你现在有 {balance} 积分"
# {activity} {name}
closed = "「{activity}」已结束"
# {activity} {announcement} {passphrase} {details}
announcement = "【{activity}】{announcement}\\n发送口令「{passphrase}」参与{details}"
# {activity} {reason} {count} {paid_text} {lines} {paid}
summary = "「{activity}」已结束（{reason}），共 {count} 人参与{paid_text}\\n{lines}"
# {seq} {name} {reward_text} {reward}
summary_line = "{seq}. {name}{reward_text}"
# {paid}
summary_paid = "，发放 {paid} 积分"
# {activity} {refund}: private notice to a member funder.
refund_notice = "「{activity}」结束，退回剩余 {refund} 积分"
# {capacity}
detail_capacity = "，限 {capacity} 人"
# {amount}
detail_fixed = "，每人奖励 {amount} 积分"
# {pool} {capacity}
detail_pool_equal = "，奖池 {pool} 积分平分"
# {pool} {capacity}
detail_pool_random = "，奖池 {pool} 积分拼手气"
# {required}
detail_required = "，需持有至少 {required} 积分"
# {cost}
detail_cost = "，报名消耗 {cost} 积分"
# {deadline}
detail_deadline = "，截止 {deadline}"
# No placeholders.
detail_daily = "，每天可参与一次"
# No placeholders: close reason when the capacity is reached.
reason_full = "名额已满"
# No placeholders: close reason at the deadline.
reason_deadline = "已到截止时间"
# No placeholders: close reason when an admin closes the activity.
reason_admin = "管理员结束"
# No placeholders: close reason when the fixed-reward budget is used up.
reason_budget = "奖励已发完"
# {suffix} (last 4 characters of the wxid): name shown for a member whose name is empty.
unnamed = "微信用户{suffix}"

# Member and admin chat commands. 成员和管理员聊天命令。
[commands]
# Admins listed in bot.admins skip the per-member cooldowns. 管理员不受冷却限制。
admins_skip_cooldown = true
# Immediate command replies per room per 60 s; later ones are delayed and merged. 每群每分钟即时回复数。
room_replies_per_minute = 10
# Largest point amount accepted in one command argument. 单个命令参数允许的最大积分数。
max_points = 1000000
# Points for one daily check-in (签到). 每次签到获得的积分。
checkin_points = 5
# Every streak_days consecutive check-ins earn streak_bonus; 0 disables. 连续签到奖励周期天数。
streak_days = 7
# Bonus points for a check-in streak; 0 disables the bonus. 连续签到奖励积分。
streak_bonus = 20
# Destination of 余额 replies: "room" or "private". 余额回复发到群里还是私聊。
balance_reply = "room"
# Recent ledger changes shown by 余额; 0 hides them. 余额显示的最近变动条数。
balance_history_size = 3
# Members shown by 排行榜. 排行榜显示人数。
leaderboard_size = 10
# "balance": current balances; "week": points received since Monday's day reset. 排行依据。
leaderboard_by = "balance"
# Word members send to grab a 发红包 red packet. 抢红包口令。
packet_passphrase = "抢红包"
# Minutes after which an unfinished red packet closes and refunds the rest. 红包过期分钟数。
packet_deadline_minutes = 1440
# Maximum shares in one red packet. 单个红包最多个数。
packet_max_count = 100
# Open red packets one member may have at a time; 0 means no limit. 每人同时未领完红包上限。
packet_max_open = 3
# Points one member may put into red packets per activity day; 0 means no limit. 每人每天发红包积分上限。
packet_daily_points = 1000
# Most members one command may @. 一条命令最多 @ 的人数。
max_targets = 20
# Reward prefix of 开始活动 for a pool split equally, as in 平分100. 平分奖池前缀。
pool_equal_prefix = "平分"
# Reward prefix of 开始活动 for a random pool, as in 随机100. 随机奖池前缀。
pool_random_prefix = "随机"
# Deadline of 开始活动 when none is given, in minutes; 0 means none. 开始活动的默认时长。
activity_deadline_minutes = 0

[commands.balance]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["余额", "积分"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word}"
# Description shown by 帮助. 帮助中显示的说明。
description = "查看自己的积分、群内排名和最近变动"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 5.0

[commands.help]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["帮助"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word}"
# Description shown by 帮助. 帮助中显示的说明。
description = "查看可用命令和进行中的活动"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 10.0

[commands.checkin]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["签到"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word}"
# Description shown by 帮助. 帮助中显示的说明。
description = "每天签到领积分，连续签到有奖励"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 5.0

[commands.leaderboard]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["排行榜"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word}"
# Description shown by 帮助. 帮助中显示的说明。
description = "查看本群积分排行"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 10.0

[commands.red_packet]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["发红包"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <积分> <个数>"
# Description shown by 帮助. 帮助中显示的说明。
description = "用自己的积分发拼手气红包，群友发送「{packet_passphrase}」领取"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 3.0

[commands.passphrase_packet]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["口令红包"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <口令> <积分> <个数>"
# Description shown by 帮助. 帮助中显示的说明。
description = "发口令红包，群友发送口令领取"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 3.0

[commands.tip]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["打赏"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <积分> @成员"
# Description shown by 帮助. 帮助中显示的说明。
description = "把积分打赏给被 @ 的成员，每人各得这么多"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 3.0

[commands.start_activity]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["开始活动"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <口令> <名额> <奖励> [时长] [名称]"
# Description shown by 帮助. 帮助中显示的说明。
description = """（管理员）名额 0 为不限；奖励写 5 为每人 5 积分，写 0 为无奖励，\\
平分100 或 随机100 为奖池；时长如 30分钟、2小时、1天 或截止时刻 21:00"""
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 0.0

[commands.end_activity]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["结束活动"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <口令或#编号>"
# Description shown by 帮助. 帮助中显示的说明。
description = "（管理员）提前结束进行中的活动"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 0.0

[commands.add_points]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["加分"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <积分> @成员 [原因]"
# Description shown by 帮助. 帮助中显示的说明。
description = "（管理员）给被 @ 的成员加分"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 0.0

[commands.deduct_points]
# Words that start the command; [] disables it. 触发命令的词，[] 表示停用。
words = ["扣分"]
# Usage line shown by 帮助; {word} is the command word. 帮助中显示的用法。
usage = "{word} <积分> @成员 [原因]"
# Description shown by 帮助. 帮助中显示的说明。
description = "（管理员）给被 @ 的成员扣分"
# Seconds a member waits between two uses. 同一成员两次使用的最小间隔秒数。
cooldown_seconds = 0.0

# Labels of ledger reasons in the 余额 history; a reason missing here is shown as stored.
# 余额变动记录中各类原因的显示名称。
[commands.reason_labels]
# Label of ledger reason grant.
grant = "发放"
# Label of ledger reason checkin.
checkin = "签到"
# Label of ledger reason checkin_bonus.
checkin_bonus = "连续签到奖励"
# Label of ledger reason tip.
tip = "打赏"
# Label of ledger reason admin_add.
admin_add = "管理员加分"
# Label of ledger reason admin_deduct.
admin_deduct = "管理员扣分"
# Label of ledger reason admin_grant (repe points grant).
admin_grant = "后台发放"
# Label of ledger reason admin_revoke (repe points revoke).
admin_revoke = "后台扣除"
# Label of ledger reason activity_fund.
activity_fund = "活动/红包出资"
# Label of ledger reason activity_refund.
activity_refund = "活动/红包退回"
# Label of ledger reason join_cost.
join_cost = "报名消耗"
# Label of ledger reason join_reward.
join_reward = "活动奖励"

# Reply texts of the commands; each comment lists the {placeholders} the text may use.
# 命令回复模板，注释列出可用的 {占位符}。
[commands.templates]
# {name} {usage} {word}
usage = "{name}，格式不对。正确格式：{usage}"
# {name} {word}
not_in_room = "{name}，「{word}」只能在群里使用"
# {name} {word}
admin_only = "{name}，只有管理员可以使用「{word}」"
# {name} {seconds} {word}
cooldown = "{name}，操作太频繁，请 {seconds} 秒后再试"
# {max_points} {name}
amount_too_large = "{name}，积分数不能超过 {max_points}"
# {balance} {name} {required}
insufficient = "{name}，积分不足：需要 {required} 积分，你现在有 {balance} 积分"
# {balance} {history_text} {name} {rank_text}
balance = "{name} 的积分：{balance}{rank_text}{history_text}"
# {rank} {total}
balance_rank = "，群内排名第 {rank}/{total}"
# {lines}
balance_history = "\\n最近变动：\\n{lines}"
# {balance} {delta} {reason} {time}
balance_history_line = "{time} {reason} {delta}"
# {activities_text} {commands}
help = "可用命令：\\n{commands}{activities_text}"
# {description} {usage} {word}
help_line = "{usage}  {description}"
# {lines}
help_activities = "\\n进行中的活动：\\n{lines}"
# {activity} {deadline_text} {passphrase}
help_activity_line = "发送「{passphrase}」参与「{activity}」{deadline_text}"
# {deadline}
help_deadline = "，截止 {deadline}"
# No placeholders.
help_no_activities = "\\n当前没有进行中的活动"
# {balance} {bonus} {bonus_text} {name} {points} {streak}
checkin_ok = "签到成功：{name} 获得 {points} 积分{bonus_text}，已连续签到 {streak} 天，现有 {balance} 积分"
# {bonus} {streak}
checkin_bonus = "，连续签到 {streak} 天奖励 {bonus} 积分"
# {name} {streak}
checkin_already = "{name}，今天已经签到过了，已连续签到 {streak} 天"
# {lines} {title}
leaderboard = "{title}\\n{lines}"
# No placeholders.
leaderboard_title_balance = "积分排行榜"
# No placeholders.
leaderboard_title_week = "本周积分榜"
# {name} {points} {rank}
leaderboard_line = "{rank}. {name} {points}"
# {title}
leaderboard_empty = "{title}\\n暂无数据"
# {count} {name} {points}
packet_name = "{name}的红包"
# {count} {name} {points}
packet_announcement = "{name} 发了 {points} 积分的红包，共 {count} 个"
# {count} {max_count} {name}
packet_count = "{name}，红包个数要在 1 到 {max_count} 之间"
# {count} {name} {points}
packet_too_small = "{name}，{count} 个红包至少要 {count} 积分，每个至少 1 积分"
# {limit} {name} {open}
packet_open_limit = "{name}，你还有 {open} 个红包没被领完，最多同时发 {limit} 个"
# {limit} {name} {points} {used}
packet_daily_limit = "{name}，今天已发红包 {used} 积分，每天最多 {limit} 积分"
# {name} {passphrase} {usage}
packet_busy = "{name}，本群的「{passphrase}」红包还没领完，请等它结束，或发口令红包：{usage}"
# {name} {passphrase}
passphrase_taken = "{name}，口令「{passphrase}」正被本群进行中的活动使用，请换一个口令"
# {name} {passphrase}
passphrase_reserved = "{name}，「{passphrase}」是命令词，不能用作口令"
# {name} {passphrase}
passphrase_invalid = "{name}，口令「{passphrase}」无效：口令要包含文字或数字"
# {balance} {name} {names} {points} {total}
tip_ok = "{name} 打赏给 {names} 每人 {points} 积分"
# {name}
tip_self = "{name}，不能打赏自己"
# {name} {word}
target_bot = "{name}，不能对机器人使用「{word}」"
# {limit} {name}
too_many_targets = "{name}，一次最多 @{limit} 人"
# {name}
mention_unresolved = "{name}，没能识别你 @ 的成员，请在群里长按对方头像 @ 后重试"
# {passphrase}
activity_name = "{passphrase}"
# {name}
activity_pool_capacity = "{name}，奖池活动需要至少 1 个名额"
# {capacity} {name} {pool}
activity_pool_small = "{name}，奖池 {pool} 积分不够分给 {capacity} 人，每人至少 1 积分"
# {name} {target}
activity_not_found = "{name}，没有找到进行中的活动「{target}」"
# {activity} {id} {name} {refund}
activity_ended = "{name}，已结束活动 #{id}「{activity}」，退回 {refund} 积分"
# {name} {value}
activity_deadline_invalid = "{name}，截止时间「{value}」无效：写 30分钟、2小时、1天 或 21:00"
# {name} {names} {points} {reason}
points_added = "{name} 给 {names} 每人加 {points} 积分（{reason}）"
# {name} {names} {points} {reason}
points_deducted = "{name} 给 {names} 每人扣 {points} 积分（{reason}）"
# {name} {names} {points}
deduct_insufficient = "{name}，{names} 的积分不足 {points}，这次没有扣分"
# No placeholders.
add_reason_default = "管理员加分"
# No placeholders.
deduct_reason_default = "管理员扣分"
'''
